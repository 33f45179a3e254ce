"""The default scheduler: ``manage.py expire_assignments`` run by cron, a
systemd timer, or ``--loop``. It needs no dependency and has no precise mode."""

from __future__ import annotations

from django_assignment_timeout.schedulers.base import BaseScheduler


class CommandScheduler(BaseScheduler):
    """Sweeps run when ``expire_assignments`` runs; nothing is scheduled per offer.

    Its one periodic entry is ``expire_assignments --loop`` (or a cron line).
    """
