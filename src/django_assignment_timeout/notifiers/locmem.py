"""In-memory notifier: the way to test code that sends notifications.

Point ``ASSIGNMENT_TIMEOUT_NOTIFIERS`` at it in your test settings::

    ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "default": {"BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"}
    }

then run the relay and assert against :data:`outbox`, as with Django's
``mail.outbox``::

    from django_assignment_timeout.delivery import deliver_pending
    from django_assignment_timeout.notifiers import locmem

    locmem.outbox.clear()
    request.offer(driver)
    deliver_pending()
    [notification] = locmem.outbox
    assert notification.recipients == (driver,)

Every notification is reported as sent to every recipient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LocmemNotifier", "outbox"]

#: Every notification sent through a :class:`LocmemNotifier`, oldest first.
#: Shared by all instances in the process; clear it at the start of a test.
outbox: list[Notification] = []


class LocmemNotifier(BaseNotifier):
    """Appends notifications to :data:`outbox` and reports them sent."""

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Record ``notifications`` in :data:`outbox`."""
        results: list[RecipientResult] = []
        for notification in notifications:
            outbox.append(notification)
            results.extend(
                RecipientResult(notification, recipient, Status.SENT)
                for recipient in notification.recipients
            )
        return results
