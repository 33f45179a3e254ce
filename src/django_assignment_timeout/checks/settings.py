"""System checks of the ``ASSIGNMENT_TIMEOUT_*`` settings (E010-E016, E032-E034, E040).

The rules are those of :mod:`django_assignment_timeout.validation`, which the
runtime applies too, so a value the checks pass is one the library accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.validation import (
    is_positive_int,
    is_positive_number,
    positive_seconds,
)

__all__ = ["check_delivery_settings", "check_settings"]

PREFIX = "assignment_timeout"


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate the ``ASSIGNMENT_TIMEOUT_*`` settings."""
    errors: list[CheckMessage] = []
    # positive_seconds(config=True) is the rule the runtime reads these with
    # (so "300" from an environment variable, or a timedelta, passes here too).
    seconds = _seconds_or_error(
        "SECONDS", "Set it to the seconds an assignee has to accept, e.g. 300.", "E010"
    )
    interval = _seconds_or_error(
        "SWEEP_INTERVAL", "Set it to the seconds between sweeps, e.g. 60.", "E011"
    )
    for value in (seconds, interval):
        if isinstance(value, Error):
            errors.append(value)
    if (
        isinstance(seconds, float)
        and isinstance(interval, float)
        and interval > seconds
    ):
        errors.append(
            Warning(
                f"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL ({interval:g}) is longer than "
                f"ASSIGNMENT_TIMEOUT_SECONDS ({seconds:g}).",
                hint="Offers may outlive their timeout by up to a whole interval; "
                "sweep more often or use a scheduler with precise expiry.",
                id=f"{PREFIX}.W012",
            )
        )
    probe = _seconds_or_error(
        "WAKE_PROBE_INTERVAL",
        "Set it to the seconds between a loop's probes for new work, e.g. 0.25.",
        "E040",
    )
    if isinstance(probe, Error):
        errors.append(probe)
    for name, check_id in (("BATCH_SIZE", "E013"), ("MAX_BATCHES", "E014")):
        errors += _positive_int_errors(
            name, "Use the default unless a benchmark says otherwise.", check_id
        )
    if not apps.is_installed("django.contrib.contenttypes"):
        errors.append(
            Error(
                "django_assignment_timeout needs django.contrib.contenttypes.",
                hint="Add 'django.contrib.contenttypes' to INSTALLED_APPS.",
                id=f"{PREFIX}.E015",
            )
        )
    if not settings.USE_TZ:
        errors.append(
            Warning(
                "USE_TZ is False; deadlines are computed on the database clock in UTC.",
                hint="Set USE_TZ = True so stored deadlines and Python datetimes agree.",
                id=f"{PREFIX}.W016",
            )
        )
    return errors


def _positive_int_errors(name: str, hint: str, check_id: str) -> list[CheckMessage]:
    """The check's error when the setting is not a positive int, as the runtime wants."""
    value = getattr(app_settings, name)
    if is_positive_int(value):
        return []
    return [
        Error(
            f"ASSIGNMENT_TIMEOUT_{name} must be a positive integer, not {value!r}.",
            hint=hint,
            id=f"{PREFIX}.{check_id}",
        )
    ]


def _seconds_or_error(name: str, hint: str, check_id: str) -> float | Error:
    """The setting in seconds, as the runtime reads it, or the check's error."""
    setting = f"ASSIGNMENT_TIMEOUT_{name}"
    try:
        return positive_seconds(getattr(app_settings, name), setting, config=True)
    except ConfigurationError as err:
        return Error(str(err), hint=hint, id=f"{PREFIX}.{check_id}")


@register(Tags.compatibility)
def check_delivery_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate the ``ASSIGNMENT_TIMEOUT_DELIVERY_*`` settings."""
    errors: list[CheckMessage] = []
    for name in ("DELIVERY_BATCH_SIZE", "DELIVERY_MAX_ATTEMPTS"):
        errors += _positive_int_errors(
            name, "Use the default unless you have measured otherwise.", "E032"
        )
    for name in ("DELIVERY_BACKOFF", "DELIVERY_BACKOFF_MAX", "DELIVERY_LEASE"):
        value = getattr(app_settings, name)
        if not is_positive_number(value):
            errors.append(
                Error(
                    f"ASSIGNMENT_TIMEOUT_{name} must be a positive number of seconds, "
                    f"not {value!r}.",
                    hint="Seconds, e.g. the default.",
                    id=f"{PREFIX}.E033",
                )
            )
    low, high = app_settings.DELIVERY_BACKOFF, app_settings.DELIVERY_BACKOFF_MAX
    if is_positive_number(low) and is_positive_number(high) and high < low:
        errors.append(
            Warning(
                f"ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX ({high}) is smaller than "
                f"ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF ({low}).",
                hint="Every retry will wait DELIVERY_BACKOFF_MAX; raise it.",
                id=f"{PREFIX}.W034",
            )
        )
    return errors
