"""Loading the configured scheduler backend (``ASSIGNMENT_TIMEOUT_SCHEDULER``)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.schedulers.base import BaseScheduler

logger = logging.getLogger("django_assignment_timeout")

SETTING = "ASSIGNMENT_TIMEOUT_SCHEDULER"


def load_scheduler(config: Any) -> BaseScheduler:
    """Build a scheduler from a ``{"BACKEND": path, "OPTIONS": {...}}`` dict."""
    if isinstance(config, str):
        config = {"BACKEND": config}
    if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
        raise ConfigurationError(
            f"{SETTING} must be a dict like "
            '{"BACKEND": "dotted.path", "OPTIONS": {}}.'
        )
    path = config["BACKEND"]
    # Only a missing OPTIONS means none: [] or "" is a wrong type (check E020).
    options = {} if config.get("OPTIONS") is None else config["OPTIONS"]
    if not isinstance(options, dict):
        raise ConfigurationError(f'{SETTING}["OPTIONS"] must be a dict.')
    try:
        backend = import_string(path)
    except ConfigurationError:
        raise
    except ImportError as err:
        raise ConfigurationError(
            f"{SETTING}: could not import backend {path!r}: {err}"
        ) from err
    if not (isinstance(backend, type) and issubclass(backend, BaseScheduler)):
        raise ConfigurationError(
            f"{SETTING}: {path!r} is not a BaseScheduler subclass."
        )
    return backend(options)


@lru_cache(maxsize=1)
def _cached(config_repr: str) -> BaseScheduler:
    return load_scheduler(app_settings.SCHEDULER)


def get_scheduler() -> BaseScheduler:
    """The configured scheduler backend (built once per setting value)."""
    return _cached(repr(app_settings.SCHEDULER))


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


@receiver(setting_changed)
def _reset(setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        _cached.cache_clear()
