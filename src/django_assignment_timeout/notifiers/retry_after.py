"""Reading an HTTP ``Retry-After`` header: seconds, or an HTTP date.

RFC 9110 allows both forms (``Retry-After: 120`` and ``Retry-After: Wed, 21
Oct 2026 07:28:00 GMT``). A value that is neither is ignored rather than
trusted: the relay's own backoff applies then.
"""

from __future__ import annotations

import email.utils
import math
import time
from datetime import timezone

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, ``None`` if absent or unreadable.

    Never negative: a date in the past means "now" (0.0). ``now`` is the
    current UNIX time, for tests.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # "-0000" (RFC 5322's "zone unknown") parses naive; HTTP dates are GMT.
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)
