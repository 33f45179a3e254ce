"""The library's tasks for Django's tasks framework.

Imported by :class:`~.tasks.TasksScheduler` on first use (creating a task
validates it against the ``TASKS`` setting, which must be readable then).
Task paths: ``django_assignment_timeout.schedulers.tasks_framework.sweep``,
``.expire_offer`` and ``.deliver``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.schedulers.tasks import framework

#: How often a precise task that ran before its deadline re-enqueues itself.
MAX_RECHECKS = 3


@framework.task()
def sweep() -> dict[str, int]:
    """Expire due offers and deliver notifications; for a worker or a cron job."""
    return jobs.run_sweep()


@framework.task(takes_context=True)
def expire_offer(
    context: Any, model_label: str, pk: Any, attempt: int, recheck: int = 0
) -> dict[str, Any]:
    """Expire one offer at its deadline; stale, duplicate and early runs do nothing."""
    outcome = jobs.expire_offer(model_label, pk, attempt)
    retry_in = outcome["retry_in"]
    alias = context.task_result.backend
    if (
        retry_in is not None
        and recheck < MAX_RECHECKS
        and framework.task_backends[alias].supports_defer
    ):
        # Ran before the deadline by the database clock: try again then.
        run_after = timezone.now() + timedelta(seconds=retry_in + 0.05)
        expire_offer.using(backend=alias, run_after=run_after).enqueue(
            model_label, pk, attempt, recheck + 1
        )
    return outcome


@framework.task()
def deliver() -> dict[str, Any]:
    """Deliver pending notification events."""
    return jobs.deliver()
