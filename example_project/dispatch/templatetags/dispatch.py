"""Template filters of the dispatch pages."""

from __future__ import annotations

import math

from django import template

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds left as ``m:ss`` (``0:00`` once past), the countdown's first frame."""
    if seconds is None:
        return ""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
