"""Celery shared tasks with stable names, registered on every Celery app.

Imported by :class:`~.celery.CeleryScheduler` (and so by ``django.setup()``
in a worker whose project selected it). A project that keeps the default
scheduler but wants the tasks can list this module in ``CELERY_IMPORTS``.
"""

from __future__ import annotations

from typing import Any

from django_assignment_timeout.schedulers import jobs

try:
    from celery import shared_task
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    from django_assignment_timeout.exceptions import MissingExtraError

    raise MissingExtraError("ASSIGNMENT_TIMEOUT_SCHEDULER", "celery", "celery") from err

#: How often a precise task that ran before its deadline (clock skew between
#: worker and database) re-schedules itself before leaving the offer to the sweep.
MAX_RECHECKS = 3


@shared_task(name=jobs.SWEEP)
def sweep() -> dict[str, int]:
    """``assignment_timeout.sweep``: expire due offers, deliver notifications.

    Returns ``{"expired_count": N}``. Safe to run twice at once.
    """
    return jobs.run_sweep()


@shared_task(name=jobs.EXPIRE_OFFER, bind=True, ignore_result=True)
def expire_offer(self: Any, model_label: str, pk: Any, attempt: int) -> dict[str, Any]:
    """``assignment_timeout.expire_offer``: expire one offer at its deadline.

    Re-checks on the database clock: a stale, duplicate or early run does
    nothing. A run that came too early (not eager) re-schedules itself for
    the time the database says is left, at most :data:`MAX_RECHECKS` times.
    """
    outcome = jobs.expire_offer(model_label, pk, attempt)
    retry_in = outcome["retry_in"]
    request = self.request
    if retry_in is not None and not request.is_eager and request.retries < MAX_RECHECKS:
        # A small margin so the next run lands after the deadline, not on it.
        raise self.retry(countdown=retry_in + 0.05, max_retries=MAX_RECHECKS)
    return outcome


@shared_task(name=jobs.DELIVER, ignore_result=True)
def deliver() -> dict[str, Any]:
    """``assignment_timeout.deliver``: deliver pending notification events."""
    return jobs.deliver()
