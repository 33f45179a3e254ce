"""The notifier backends configured in ``ASSIGNMENT_TIMEOUT_NOTIFIERS``.

Configured like ``CACHES``: several backends at once, each
``{"BACKEND": "dotted.path.Class", "OPTIONS": {...}}``. Backends are built
once per setting value and shared by threads; a backend module is imported
only when a setting names it (so the FCM extra is never imported otherwise).
"""

from __future__ import annotations

from typing import Any

from django_assignment_timeout.backends import BackendHandler
from django_assignment_timeout.notifiers.base import (
    SETTING,
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
)

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

#: Loads and caches the notifier backends by alias.
handler: BackendHandler[BaseNotifier] = BackendHandler(SETTING, BaseNotifier)


def load_notifier(alias: str, config: Any) -> BaseNotifier:
    """Build the backend ``alias`` from its ``{"BACKEND": ..., "OPTIONS": ...}`` dict."""
    return handler.load(alias, config)


def load_notifiers(config: Any) -> dict[str, BaseNotifier]:
    """Build every backend of a ``ASSIGNMENT_TIMEOUT_NOTIFIERS``-shaped dict."""
    return handler.load_all(config)


def get_notifiers() -> dict[str, BaseNotifier]:
    """The configured notifier backends by alias (built once per setting value)."""
    return handler.all()
