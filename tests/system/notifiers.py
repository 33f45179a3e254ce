"""A notifier that records every send in a file, so a test can count sends
made by any process, including one that was killed with SIGKILL.

OPTIONS: ``path`` (the log, one ``event_id kind recipient`` line per send)
and ``hang_once`` (a path): the first process to find that file absent
creates it halfway through its first batch and then hangs, so a test can
kill it mid-delivery.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    RecipientResult,
    Status,
    recipient_key,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django_assignment_timeout.notifiers.base import Notification


class FileNotifier(BaseNotifier):
    """Appends one line per (notification, recipient) and reports it sent."""

    known_options = frozenset({"path", "hang_once"})

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Record each send durably (a write survives SIGKILL), maybe hang halfway."""
        results = []
        hang_at = self._hang_at(len(notifications))
        with open(self.options["path"], "a") as log:
            for index, notification in enumerate(notifications):
                if index == hang_at:
                    log.flush()
                    with open(self.options["hang_once"], "w") as reached:
                        reached.write(str(os.getpid()))
                    while True:  # until the test kills this process
                        time.sleep(1)
                data = notification.data
                for recipient in notification.recipients:
                    log.write(
                        f"{notification.event_id} {data.get('event', '')} "
                        f"{recipient_key(recipient)}\n"
                    )
                    results.append(
                        RecipientResult(notification, recipient, Status.SENT)
                    )
                log.flush()
        return results

    def _hang_at(self, size: int) -> int | None:
        flag = self.options.get("hang_once")
        if not flag or size < 2:
            return None
        try:
            # Exclusive create: only one process ever hangs.
            os.close(os.open(flag + ".claimed", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return None
        return size // 2


def sends(path: str) -> dict[int, int]:
    """How many times each event id was sent, from a :class:`FileNotifier` log."""
    counts: dict[int, int] = {}
    if not os.path.exists(path):
        return counts
    with open(path) as log:
        for line in log:
            event_id = int(line.split()[0])
            counts[event_id] = counts.get(event_id, 0) + 1
    return counts
