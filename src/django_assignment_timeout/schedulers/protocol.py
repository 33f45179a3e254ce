"""What every scheduler backend's tasks agree on: names, arguments, re-checks.

This module imports nothing of the library's core (no models), so a backend
module can import it while Django is still loading settings, as a project's
``celery.py`` does in the standard Celery layout.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ARM",
    "ARM_PERIODIC_NAME",
    "DELIVER",
    "EXPIRE_OFFER",
    "MAX_RECHECKS",
    "PERIODIC_NAME",
    "RECHECK_MARGIN",
    "SWEEP",
    "recheck_in",
    "task_pk",
]

#: Stable task names, shared by every backend that names its tasks.
SWEEP = "assignment_timeout.sweep"
EXPIRE_OFFER = "assignment_timeout.expire_offer"
DELIVER = "assignment_timeout.deliver"
#: Arms the ETA tasks of deadlines that came within the horizon (Celery).
ARM = "assignment_timeout.arm"
#: The one periodic entry each backend registers (Celery beat key, Huey lock).
PERIODIC_NAME = "assignment-timeout-sweep"
#: Celery's second beat entry: arming, in slices far shorter than the sweep's.
ARM_PERIODIC_NAME = "assignment-timeout-arm"
#: How often a precise task that ran before its deadline (clock skew between
#: worker and database) re-schedules itself before leaving the offer to the sweep.
MAX_RECHECKS = 3
#: Added to the time left, so a re-scheduled run lands after the deadline, not on it.
RECHECK_MARGIN = 0.05


def recheck_in(outcome: dict[str, Any], rechecks: int) -> float | None:
    """Seconds until an early run of ``expire_offer`` should look again, or None.

    ``outcome`` is what :func:`.jobs.expire_offer` returned; ``rechecks`` how often
    this offer was already looked at again. None when the offer is gone,
    expired, or has been re-checked :data:`MAX_RECHECKS` times (the sweep
    then expires it).
    """
    retry_in = outcome["retry_in"]
    if retry_in is None or rechecks >= MAX_RECHECKS:
        return None
    return float(retry_in) + RECHECK_MARGIN


def task_pk(pk: Any) -> Any:
    """``pk`` as a JSON-safe task argument (UUIDs and the like become strings)."""
    return pk if isinstance(pk, (int, str)) and not isinstance(pk, bool) else str(pk)
