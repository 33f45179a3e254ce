"""System checks of the ``ASSIGNMENT_TIMEOUT_*`` settings (E010-E016, E032-E034).

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
from django_assignment_timeout.validation import is_positive_int, is_positive_number

__all__ = ["check_delivery_settings", "check_settings"]

PREFIX = "assignment_timeout"


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate the ``ASSIGNMENT_TIMEOUT_*`` settings."""
    errors: list[CheckMessage] = []
    seconds, interval = app_settings.SECONDS, app_settings.SWEEP_INTERVAL
    if not is_positive_number(seconds):
        errors.append(
            Error(
                f"ASSIGNMENT_TIMEOUT_SECONDS must be a positive number, not {seconds!r}.",
                hint="Set it to the seconds an assignee has to accept, e.g. 300.",
                id=f"{PREFIX}.E010",
            )
        )
    if not is_positive_number(interval):
        errors.append(
            Error(
                f"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL must be a positive number, not {interval!r}.",
                hint="Set it to the seconds between sweeps, e.g. 60.",
                id=f"{PREFIX}.E011",
            )
        )
    elif is_positive_number(seconds) and interval > seconds:
        errors.append(
            Warning(
                f"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL ({interval}) is longer than "
                f"ASSIGNMENT_TIMEOUT_SECONDS ({seconds}).",
                hint="Offers may outlive their timeout by up to a whole interval; "
                "sweep more often or use a scheduler with precise expiry.",
                id=f"{PREFIX}.W012",
            )
        )
    for name, check_id in (("BATCH_SIZE", "E013"), ("MAX_BATCHES", "E014")):
        value = getattr(app_settings, name)
        if not is_positive_int(value):
            errors.append(
                Error(
                    f"ASSIGNMENT_TIMEOUT_{name} must be a positive integer, not {value!r}.",
                    hint="Use the default unless a benchmark says otherwise.",
                    id=f"{PREFIX}.{check_id}",
                )
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


@register(Tags.compatibility)
def check_delivery_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate the ``ASSIGNMENT_TIMEOUT_DELIVERY_*`` settings."""
    errors: list[CheckMessage] = []
    for name in ("DELIVERY_BATCH_SIZE", "DELIVERY_MAX_ATTEMPTS"):
        value = getattr(app_settings, name)
        if not is_positive_int(value):
            errors.append(
                Error(
                    f"ASSIGNMENT_TIMEOUT_{name} must be a positive integer, not {value!r}.",
                    hint="Use the default unless you have measured otherwise.",
                    id=f"{PREFIX}.E032",
                )
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
