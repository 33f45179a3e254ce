"""System checks that load the configured backends and run their own checks.

E020 the scheduler backend can not be loaded; E030 the notifier backends can
not be loaded (a missing extra names its pip command), W030 none is
configured. Each backend then adds its own messages (E021-E027 schedulers,
E031-E038 notifiers, E080-E084 email, E085-E089 webhook).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_assignment_timeout import notifiers, schedulers
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError

__all__ = ["check_notifiers", "check_scheduler"]

PREFIX = "assignment_timeout"


@register(Tags.compatibility)
def check_scheduler(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Load the scheduler backend and run its own checks."""
    try:
        scheduler = schedulers.load_scheduler(app_settings.SCHEDULER)
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint=f"Fix {schedulers.SETTING}; see the scheduler reference in the docs.",
                id=f"{PREFIX}.E020",
            )
        ]
    return scheduler.check()


@register(Tags.compatibility)
def check_notifiers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Load every notifier backend and run its own checks."""
    try:
        loaded = notifiers.load_notifiers(app_settings.NOTIFIERS)
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint=f"Fix {notifiers.SETTING}; see the notifier reference in the docs.",
                id=f"{PREFIX}.E030",
            )
        ]
    if not loaded:
        return [
            Warning(
                f"{notifiers.SETTING} is empty: events are marked delivered without being sent.",
                hint="Configure at least the log backend.",
                id=f"{PREFIX}.W030",
            )
        ]
    errors: list[CheckMessage] = []
    for notifier in loaded.values():
        errors.extend(notifier.check())
    return errors
