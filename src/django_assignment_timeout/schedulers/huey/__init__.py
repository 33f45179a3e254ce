"""The Huey scheduler: a periodic, locked sweep and a task per offer at its deadline.

:mod:`.backend` holds :class:`HueyScheduler`; :mod:`.tasks` the Huey tasks,
imported only once the project configured ``HUEY`` (djhuey reads it at import).
"""

from __future__ import annotations

from django_assignment_timeout.schedulers.huey.backend import (
    HueyScheduler,
    huey_configured,
    immediate_by_default,
)

__all__ = ["HueyScheduler", "huey_configured", "immediate_by_default"]
