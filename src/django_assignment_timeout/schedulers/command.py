"""The default scheduler: ``manage.py expire_assignments`` run by cron, a
systemd timer, or ``--loop``. It needs no dependency and has no precise mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_assignment_timeout.schedulers.base import BaseScheduler

if TYPE_CHECKING:
    from datetime import datetime

    from django.db import models

__all__ = ["CommandScheduler"]


class CommandScheduler(BaseScheduler):
    """Sweeps run when ``expire_assignments`` runs; nothing is scheduled per offer.

    Its one periodic entry is ``expire_assignments --loop`` (or a cron line).
    """

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Nothing: the next ``expire_assignments`` run expires the offer."""

    def schedule_delivery(self) -> None:
        """Nothing: the next ``expire_assignments`` run delivers the events."""
