"""System checks of the metrics settings (E060-E062).

``ASSIGNMENT_TIMEOUT_METRICS`` is read once, when the app is ready, so a bad
value would silently leave metrics off: these checks say so.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, register

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.metrics import MULTIPROC_ENV

__all__ = ["check_metrics_settings"]

PREFIX = "assignment_timeout"


@register(Tags.compatibility)
def check_metrics_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate ``ASSIGNMENT_TIMEOUT_METRICS`` and what turning it on needs."""
    # Typed bool, but a project may set anything: that is what this checks.
    value: object = app_settings.METRICS
    if not isinstance(value, bool):
        return [
            Error(
                f"ASSIGNMENT_TIMEOUT_METRICS must be True or False, not {value!r}.",
                hint="Set it to True to count events and notifications for Prometheus.",
                id=f"{PREFIX}.E060",
            )
        ]
    if not value:
        return []
    errors: list[CheckMessage] = []
    if importlib.util.find_spec("prometheus_client") is None:
        errors.append(
            Error(
                "ASSIGNMENT_TIMEOUT_METRICS is on but prometheus_client is not installed.",
                hint="pip install 'django-assignment-timeout[metrics]'",
                id=f"{PREFIX}.E061",
            )
        )
    directory = os.environ.get(MULTIPROC_ENV)
    if directory and not (
        os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK)
    ):
        errors.append(
            Error(
                f"{MULTIPROC_ENV} is {directory!r}, which is not a writable directory.",
                hint="Create it before the processes start (and empty it at each "
                "deploy); the web server, sweepers and relays must share it.",
                id=f"{PREFIX}.E062",
            )
        )
    return errors
