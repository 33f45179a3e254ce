"""The default scheduler: ``manage.py expire_assignments`` run by cron, a
systemd timer, or ``--loop``. It needs no dependency and has no precise mode."""

from __future__ import annotations

from django_assignment_timeout.schedulers.base import BaseScheduler


class CommandScheduler(BaseScheduler):
    """Sweeps happen when ``expire_assignments`` runs; nothing is scheduled per offer."""
