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
from django_assignment_timeout.schedulers.horizon import configured_arm_interval
from django_assignment_timeout.schedulers.protocol import (
    ARM,
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

__all__ = ["arm", "deliver", "expire_offer", "sweep"]


@shared_task(name=SWEEP)
def sweep(interval: float | None = None, arm: bool = True) -> dict[str, int]:
    """``assignment_timeout.sweep``: expire due offers, deliver notifications.

    Then, with ``arm`` (the default, for a project that schedules the sweep
    alone), arm the ETA tasks of offers whose deadline came within the
    scheduler's ``eta_horizon``, for the window of one ``interval`` (default
    ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL``). The entry from
    :func:`~.backend.beat_schedule` passes ``arm=False``: its arm entry does
    that in short slices, and a catch-up here would re-send a whole
    interval's tasks at once, the very burst it avoids (an offer its ticks
    missed is still expired by this sweep). Returns ``{"expired_count": N}``.
    Safe to run twice at once.
    """
    result = jobs.run_sweep()
    if arm:
        arm_scheduler(sweep_interval() if interval is None else float(interval))
    return result


@shared_task(name=ARM, ignore_result=True)
def arm(interval: float | None = None) -> int:
    """``assignment_timeout.arm``: the ETA tasks of deadlines now within the horizon.

    For the window of one ``interval`` (which :func:`~.backend.beat_schedule`
    passes; default the scheduler's ``arm_interval`` option). Returns how
    many it sent; never raises (a failure is logged, the sweep expires those
    offers).
    """
    return arm_scheduler(
        configured_arm_interval() if interval is None else float(interval)
    )


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
