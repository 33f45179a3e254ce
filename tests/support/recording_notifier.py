"""A notifier that records when each notification arrived, across processes.

    ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "default": {
            "BACKEND": "tests.support.recording_notifier.RecordingNotifier",
            "OPTIONS": {"path": "/tmp/arrivals.txt"},
        }
    }

Each notification it is given appends one line ``<event_id> <time.time()>``
to ``path``, so that the process that made the offer (a benchmark, a test)
can tell how long the relay of another process (a sweeper, a worker) took to
hand it over. One ``write`` of a short line on a file opened for appending
is atomic on Linux, so several delivering processes may share the file.
Every notification is reported as sent.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["RecordingNotifier", "read_arrivals"]


class RecordingNotifier(BaseNotifier):
    """Appends ``event_id time`` per notification to ``OPTIONS["path"]``."""

    known_options = frozenset({"path"})

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Record the arrival time of ``notifications``; all sent."""
        now = time.time()
        lines = "".join(f"{each.event_id} {now:.6f}\n" for each in notifications)
        fd = os.open(self.options["path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)
        return [
            RecipientResult(notification, recipient, Status.SENT)
            for notification in notifications
            for recipient in notification.recipients
        ]


def read_arrivals(path: str) -> dict[int, float]:
    """Event id to the first time it arrived, from a :class:`RecordingNotifier` file."""
    arrivals: dict[int, float] = {}
    if not os.path.exists(path):
        return arrivals
    with open(path) as lines:
        for line in lines:
            event_id, _, moment = line.partition(" ")
            if event_id != "None":
                arrivals.setdefault(int(event_id), float(moment))
    return arrivals
