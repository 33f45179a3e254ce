"""The default scheduler: ``manage.py expire_assignments`` run by cron, a
systemd timer, or ``--loop``. It needs no dependency: its precise mode is the
loop itself, which sleeps until the next deadline and is woken by each commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import router

from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.schedulers.base import BaseScheduler
from django_assignment_timeout.wakeup import wake_sweepers

if TYPE_CHECKING:
    from datetime import datetime

    from django.db import models

__all__ = ["CommandScheduler"]


class CommandScheduler(BaseScheduler):
    """Sweeps run when ``expire_assignments`` runs; nothing is scheduled per offer.

    Its one periodic entry is ``expire_assignments --loop`` (or a cron line).
    Both triggers run after the commit and wake the sleeping loops on
    PostgreSQL (``NOTIFY``); elsewhere the loops' probes find the work.
    """

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Wake the loops on ``model``'s database: this deadline may be the next one.

        The NOTIFY is sent here, after the commit, rather than inside the
        offering transaction: PostgreSQL serialises the commits of
        transactions that notified (a lock on its notification queue), and
        the offer's commit, holding its row, stays out of that queue.
        """
        wake_sweepers(router.db_for_write(model))

    def schedule_delivery(self) -> None:
        """Wake the loops on the events' database, which deliver at once."""
        wake_sweepers(router.db_for_write(AssignmentEvent))
