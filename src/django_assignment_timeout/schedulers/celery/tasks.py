"""Celery shared tasks with stable names, registered on every Celery app.

Imported by :class:`~.backend.CeleryScheduler` (and so by ``django.setup()``
in a worker whose project selected it). A project that keeps the default
scheduler but wants the tasks can list this module,
``django_assignment_timeout.schedulers.celery.tasks``, in ``CELERY_IMPORTS``.
"""

from __future__ import annotations

from typing import Any

from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.exceptions import MissingExtraError
from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.schedulers.arming import arm_scheduler
from django_assignment_timeout.schedulers.protocol import (
    DELIVER,
    EXPIRE_OFFER,
    MAX_RECHECKS,
    SWEEP,
    recheck_in,
)

try:
    from celery import shared_task
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("ASSIGNMENT_TIMEOUT_SCHEDULER", "celery", "celery") from err

__all__ = ["deliver", "expire_offer", "sweep"]


@shared_task(name=SWEEP)
def sweep(interval: float | None = None) -> dict[str, int]:
    """``assignment_timeout.sweep``: expire due offers, deliver notifications.

    Then arm the ETA tasks of offers whose deadline came within the
    scheduler's ``eta_horizon``, for the window of one beat ``interval``
    (which :func:`~.backend.beat_schedule` passes; default
    ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL``). Returns ``{"expired_count": N}``.
    Safe to run twice at once.
    """
    result = jobs.run_sweep()
    arm_scheduler(sweep_interval() if interval is None else float(interval))
    return result


@shared_task(name=EXPIRE_OFFER, bind=True, ignore_result=True)
def expire_offer(self: Any, model_label: str, pk: Any, attempt: int) -> dict[str, Any]:
    """``assignment_timeout.expire_offer``: expire one offer at its deadline.

        Re-checks on the database clock: a stale, duplicate or early run does
        nothing. A run that came too early (not eager) re-schedules itself for
        the time the database says is left, at most
    :data:`~django_assignment_timeout.schedulers.protocol.MAX_RECHECKS` times.
    """
    outcome = jobs.expire_offer(model_label, pk, attempt)
    request = self.request
    countdown = recheck_in(outcome, request.retries)
    if countdown is not None and not request.is_eager:
        raise self.retry(countdown=countdown, max_retries=MAX_RECHECKS)
    return outcome


@shared_task(name=DELIVER, ignore_result=True)
def deliver() -> dict[str, Any]:
    """``assignment_timeout.deliver``: deliver pending notification events."""
    return jobs.deliver()
