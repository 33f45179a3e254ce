"""The Celery scheduler: a beat sweep plus a precise ETA task per offer.

:mod:`.backend` holds :class:`CeleryScheduler` and :func:`beat_schedule`;
:mod:`.tasks` the shared tasks it sends, registered when the backend is
ready. Importing this package imports no model, so a project's ``celery.py``
may import :func:`beat_schedule` while Django is still loading settings.
"""

from __future__ import annotations

from django_assignment_timeout.schedulers.celery.backend import (
    VISIBILITY_TIMEOUTS,
    CeleryScheduler,
    beat_schedule,
    project_app,
    visibility_timeout,
)
from django_assignment_timeout.schedulers.protocol import DELIVER, EXPIRE_OFFER, SWEEP

__all__ = [
    "DELIVER",
    "EXPIRE_OFFER",
    "SWEEP",
    "VISIBILITY_TIMEOUTS",
    "CeleryScheduler",
    "beat_schedule",
    "project_app",
    "visibility_timeout",
]
