"""The configured scheduler backend (``ASSIGNMENT_TIMEOUT_SCHEDULER``).

The core reaches the scheduler only through :func:`get_scheduler`; the
backends themselves (``schedulers.command``, ``.celery``, ``.huey``,
``.tasks``) are loaded by dotted path when the setting names them.
"""

from __future__ import annotations

import logging
from typing import Any

from django_assignment_timeout.backends import BackendHandler
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.schedulers.base import SETTING, BaseScheduler

logger = logging.getLogger("django_assignment_timeout")

__all__ = ["SETTING", "BaseScheduler", "get_scheduler", "load_scheduler", "ready"]

#: Loads and caches the one scheduler backend.
handler: BackendHandler[BaseScheduler] = BackendHandler(
    SETTING, BaseScheduler, single=True
)


def load_scheduler(config: Any) -> BaseScheduler:
    """Build a scheduler from a ``{"BACKEND": path, "OPTIONS": {...}}`` dict."""
    return handler.load("default", config)


def get_scheduler() -> BaseScheduler:
    """The configured scheduler backend (built once per setting value)."""
    return handler["default"]


def ready() -> None:
    """Let the configured backend register its tasks (from ``AppConfig.ready``).

    A backend that can not be loaded is reported by system check E020, so it
    must not stop Django from starting here.
    """
    try:
        scheduler = get_scheduler()
    except ConfigurationError as err:
        logger.warning("Scheduler not loaded: %s", err)
        return
    scheduler.ready()
