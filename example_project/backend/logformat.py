"""A console log format that shows a notification's body, not only its title.

The library's log notifier puts the whole notification in the record's
``notification`` attribute; the demo prints who gets what, word for word.
"""

from __future__ import annotations

import logging


class NotificationFormatter(logging.Formatter):
    """Appends ``title: body`` of a logged notification to the message."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record``, adding the notification's text when it carries one."""
        text = super().format(record)
        notification = getattr(record, "notification", None)
        if isinstance(notification, dict):
            text += f" | {notification.get('title')}: {notification.get('body')}"
        return text
