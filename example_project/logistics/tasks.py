"""The GTS guide's two Celery tasks, under their exact names, built on the library.

* ``logistics.check_expired_driver_assignments`` (Celery beat, every 60 s):
  expires every driver offer past its deadline, in bounded batches, exactly
  once each, and returns ``{'expired_count': N}``. The deadline is stored at
  offer time, so a row that a driver accepted in time is never touched.
* ``logistics.notify_eic_assignment_expired``: runs the library's
  notification relay, which sends the EICs the guide's "Driver Assignment
  Expired" push for every expiry (and any other undelivered notification),
  retrying failures with backoff.

With the library's Celery scheduler each offer is also expired by its own
task at its deadline, so the 60-second beat is only a backstop.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.schedulers.arming import arm_scheduler
from django_assignment_timeout.sweep import sweep


@shared_task(name="logistics.check_expired_driver_assignments")
def check_expired_driver_assignments() -> dict[str, int]:
    """Reset expired driver assignments to PENDING; returns ``{'expired_count': N}``."""
    from logistics.models import StockRequest

    result = sweep([StockRequest])
    if result.expired_count:
        # The guide's shape: the check triggers the notification task.
        notify_eic_assignment_expired.delay()
    # An offer longer than the scheduler's ETA horizon gets its precise task
    # from this tick once its deadline comes within range (beat runs this
    # every ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL seconds, see settings).
    arm_scheduler(sweep_interval())
    return result.as_dict()


@shared_task(name="logistics.notify_eic_assignment_expired")
def notify_eic_assignment_expired() -> dict[str, Any]:
    """Deliver pending notifications (the EICs' expiry pushes among them)."""
    return jobs.deliver()
