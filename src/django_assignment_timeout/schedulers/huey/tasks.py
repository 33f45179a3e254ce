"""Huey tasks, registered on the project's Huey (``huey.contrib.djhuey``).

``huey.contrib.djhuey`` reads ``settings.HUEY`` when imported and may call
``sys.exit`` on a bad configuration, so this module is imported only by
:class:`~.backend.HueyScheduler` once the project configured ``HUEY``.

Huey names tasks by module and function: the periodic sweep is
``django_assignment_timeout.schedulers.huey.tasks.sweep``, the others
``...huey.tasks.expire_offer`` and ``...huey.tasks.deliver``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.exceptions import MissingExtraError
from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.schedulers.arming import arm_scheduler
from django_assignment_timeout.schedulers.protocol import PERIODIC_NAME, recheck_in

try:
    from huey.contrib.djhuey import HUEY, db_periodic_task, db_task
    from huey.exceptions import TaskLockedException
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("ASSIGNMENT_TIMEOUT_SCHEDULER", "huey", "huey") from err

__all__ = ["deliver", "every_interval", "expire_offer", "interval_minutes", "sweep"]


def every_interval(minutes: int) -> Any:
    """A Huey ``validate_datetime`` that fires every ``minutes`` minutes.

    Huey's consumer checks periodic tasks every 60 seconds counted from its
    own start (not on the minute), passing the current time: the sweep runs
    at the one check that falls in each matching minute, so its interval is
    rounded to whole minutes (at least one).
    """

    def validate(moment: datetime) -> bool:
        return (moment.hour * 60 + moment.minute) % minutes == 0

    return validate


def interval_minutes() -> int:
    """``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` in whole minutes, between 1 and 1440."""
    return min(max(round(sweep_interval() / 60), 1), 1440)


@db_periodic_task(every_interval(interval_minutes()))
def sweep() -> dict[str, int]:
    """The periodic sweep. A lock keeps two consumers from sweeping at once.

    The sweep itself is safe to run concurrently; the lock only saves the
    second consumer the work. A lock left behind by a killed consumer is
    cleared by ``run_huey --flush-locks``. With an ``eta_horizon`` set, it
    then arms the per-offer tasks of deadlines that came within it.
    """
    try:
        with HUEY.lock_task(PERIODIC_NAME):
            result = jobs.run_sweep()
            arm_scheduler(interval_minutes() * 60.0)
            return result
    except TaskLockedException:
        return {"expired_count": 0}


@db_task()
def expire_offer(
    model_label: str, pk: Any, attempt: int, recheck: int = 0
) -> dict[str, Any]:
    """Expire one offer at its deadline; stale, duplicate and early runs do nothing."""
    outcome = jobs.expire_offer(model_label, pk, attempt)
    delay = recheck_in(outcome, recheck)
    if delay is not None and not HUEY.immediate:
        # Ran before the deadline by the database clock: try again then.
        expire_offer.schedule(args=(model_label, pk, attempt, recheck + 1), delay=delay)
    return outcome


@db_task()
def deliver() -> dict[str, Any]:
    """Deliver pending notification events."""
    return jobs.deliver()
