"""System checks for the notifier backends and the delivery settings.

* E030 ``ASSIGNMENT_TIMEOUT_NOTIFIERS`` is malformed or a backend can not be
  loaded (a missing extra names its pip command); W030 no notifier is
  configured, so events are marked delivered without being sent.
* E031 a backend has unknown or invalid options.
* E032 ``DELIVERY_BATCH_SIZE`` / ``DELIVERY_MAX_ATTEMPTS`` not a positive
  integer; E033 ``DELIVERY_BACKOFF`` / ``DELIVERY_BACKOFF_MAX`` /
  ``DELIVERY_LEASE`` not a positive number; W034 ``DELIVERY_BACKOFF_MAX``
  smaller than ``DELIVERY_BACKOFF``.
* E035-E038 the FCM backend: credentials, token resolver, HTTP timeout,
  target / priority values.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.options import _is_real_number

PREFIX = "assignment_timeout"


def _number(value: Any) -> bool:
    return _is_real_number(value) and 0 < value < float("inf")


@register(Tags.compatibility)
def check_notifiers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Load every notifier backend and run its own checks."""
    from django_assignment_timeout.notifiers import SETTING, load_notifiers

    try:
        notifiers = load_notifiers(app_settings.NOTIFIERS)
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint=f"Fix {SETTING}; see the notifier reference in the docs.",
                id=f"{PREFIX}.E030",
            )
        ]
    if not notifiers:
        return [
            Warning(
                f"{SETTING} is empty: events are marked delivered without being sent.",
                hint="Configure at least the log backend.",
                id=f"{PREFIX}.W030",
            )
        ]
    errors: list[CheckMessage] = []
    for notifier in notifiers.values():
        errors.extend(notifier.check())
    return errors


@register(Tags.compatibility)
def check_delivery_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate the ``ASSIGNMENT_TIMEOUT_DELIVERY_*`` settings."""
    errors: list[CheckMessage] = []
    for name in ("DELIVERY_BATCH_SIZE", "DELIVERY_MAX_ATTEMPTS"):
        value = getattr(app_settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                Error(
                    f"ASSIGNMENT_TIMEOUT_{name} must be a positive integer, not {value!r}.",
                    hint="Use the default unless you have measured otherwise.",
                    id=f"{PREFIX}.E032",
                )
            )
    for name in ("DELIVERY_BACKOFF", "DELIVERY_BACKOFF_MAX", "DELIVERY_LEASE"):
        value = getattr(app_settings, name)
        if not _number(value):
            errors.append(
                Error(
                    f"ASSIGNMENT_TIMEOUT_{name} must be a positive number of seconds, "
                    f"not {value!r}.",
                    hint="Seconds, e.g. the default.",
                    id=f"{PREFIX}.E033",
                )
            )
    low, high = app_settings.DELIVERY_BACKOFF, app_settings.DELIVERY_BACKOFF_MAX
    if _number(low) and _number(high) and high < low:
        errors.append(
            Warning(
                f"ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX ({high}) is smaller than "
                f"ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF ({low}).",
                hint="Every retry will wait DELIVERY_BACKOFF_MAX; raise it.",
                id=f"{PREFIX}.W034",
            )
        )
    return errors
