"""Logging notifier: one structured log record per notification.

Records go to the ``django_assignment_timeout.notifications`` logger with the
notification's fields in ``extra["notification"]``, so a JSON log formatter
can ship them as they are. Useful in development and as a safety net next to
a push backend. Option ``level`` (default ``"INFO"``) sets the record level.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
    recipient_key,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.core.checks import CheckMessage

__all__ = ["LogNotifier"]

logger = logging.getLogger("django_assignment_timeout.notifications")


class LogNotifier(BaseNotifier):
    """Logs each notification and reports it sent to every recipient."""

    known_options = frozenset({"level"})

    def _level(self) -> Any:
        return logging.getLevelName(str(self.options.get("level", "INFO")).upper())

    def check(self) -> list[CheckMessage]:
        """Unknown options, and a ``level`` the logging module does not know."""
        from django.core.checks import Error

        errors = super().check()
        if not isinstance(self._level(), int):
            errors.append(
                Error(
                    f"Notifier {self.alias!r}: unknown log level {self.options['level']!r}.",
                    hint="Use DEBUG, INFO, WARNING or ERROR.",
                    id="assignment_timeout.E031",
                )
            )
        return errors

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Log ``notifications``."""
        level = self._level()
        if not isinstance(level, int):
            level = logging.INFO
        results: list[RecipientResult] = []
        for notification in notifications:
            recipients = [recipient_key(r) for r in notification.recipients]
            logger.log(
                level,
                "notification %r to %s",
                notification.title,
                ", ".join(recipients),
                extra={
                    "notification": {
                        "event_id": notification.event_id,
                        "recipients": recipients,
                        "title": notification.title,
                        "body": notification.body,
                        "data": notification.data,
                        "collapse_key": notification.collapse_key,
                    }
                },
            )
            results.extend(
                RecipientResult(notification, r, Status.SENT)
                for r in notification.recipients
            )
        return results
