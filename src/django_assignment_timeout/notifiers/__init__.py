"""Loading the notifier backends configured in ``ASSIGNMENT_TIMEOUT_NOTIFIERS``.

Configured like ``CACHES``: several backends at once, each
``{"BACKEND": "dotted.path.Class", "OPTIONS": {...}}``. Backends are built
once per setting value and shared by threads; a backend module is imported
only when a setting names it (so the FCM extra is never imported otherwise).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
)

SETTING = "ASSIGNMENT_TIMEOUT_NOTIFIERS"

__all__ = [
    "SETTING",
    "BaseNotifier",
    "Notification",
    "RecipientResult",
    "Status",
    "get_notifiers",
    "load_notifier",
    "load_notifiers",
]


def load_notifier(alias: str, config: Any) -> BaseNotifier:
    """Build the backend ``alias`` from its ``{"BACKEND": ..., "OPTIONS": ...}`` dict."""
    where = f"{SETTING}[{alias!r}]"
    if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
        raise ConfigurationError(
            f'{where} must be a dict like {{"BACKEND": "dotted.path", "OPTIONS": {{}}}}.'
        )
    options = {} if config.get("OPTIONS") is None else config["OPTIONS"]
    if not isinstance(options, dict):
        raise ConfigurationError(f'{where}["OPTIONS"] must be a dict.')
    path = config["BACKEND"]
    try:
        backend = import_string(path)
    except ImportError as err:
        raise ConfigurationError(
            f"{where}: could not import backend {path!r}: {err}"
        ) from err
    if not (isinstance(backend, type) and issubclass(backend, BaseNotifier)):
        raise ConfigurationError(f"{where}: {path!r} is not a BaseNotifier subclass.")
    return backend(alias, options)


def load_notifiers(config: Any) -> dict[str, BaseNotifier]:
    """Build every backend of a ``ASSIGNMENT_TIMEOUT_NOTIFIERS``-shaped dict."""
    if not isinstance(config, dict):
        raise ConfigurationError(
            f"{SETTING} must be a dict of aliases to backend dicts."
        )
    return {
        str(alias): load_notifier(str(alias), entry) for alias, entry in config.items()
    }


@lru_cache(maxsize=1)
def _cached(config_repr: str) -> dict[str, BaseNotifier]:
    return load_notifiers(app_settings.NOTIFIERS)


def get_notifiers() -> dict[str, BaseNotifier]:
    """The configured notifier backends by alias (built once per setting value)."""
    return _cached(repr(app_settings.NOTIFIERS))


@receiver(setting_changed)
def _reset(setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        _cached.cache_clear()
