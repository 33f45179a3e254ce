"""System check of ``ASSIGNMENT_TIMEOUT_EVENT_RETENTION`` (E055).

The rule is :func:`~django_assignment_timeout.conf.event_retention`,
which the periodic jobs prune with, so a value the check passes is one they
accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, register

from django_assignment_timeout.conf import event_retention
from django_assignment_timeout.exceptions import ConfigurationError

__all__ = ["check_retention_settings"]


@register(Tags.compatibility)
def check_retention_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate ``ASSIGNMENT_TIMEOUT_EVENT_RETENTION``."""
    try:
        event_retention()
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint="Set it to None (never prune automatically), a number of "
                "seconds, a timedelta, or text such as '90d'.",
                id="assignment_timeout.E055",
            )
        ]
    return []
