"""The library's tasks for Django's tasks framework.

Imported by :class:`~.backend.TasksScheduler` on first use (creating a task
validates it against the ``TASKS`` setting, which must be readable then).
Task paths: ``django_assignment_timeout.schedulers.tasks.tasks.sweep``,
``.expire_offer`` and ``.deliver``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.schedulers.protocol import recheck_in
from django_assignment_timeout.schedulers.tasks.framework import framework

__all__ = ["deliver", "expire_offer", "sweep"]


def _declared_on() -> dict[str, str]:
    # Declaring a task validates it against a backend there and then: declare
    # on the configured backend and queue, or a backend whose QUEUES lacks
    # "default" refuses the import. Every enqueue names both again (using()).
    options = (app_settings.SCHEDULER or {}).get("OPTIONS") or {}
    return {
        "backend": str(options.get("backend", "default")),
        "queue_name": str(options.get("queue_name", "default")),
    }


@framework.task(**_declared_on())
def sweep() -> dict[str, int]:
    """Expire due offers and deliver notifications; for a worker or a cron job."""
    return jobs.run_sweep()


@framework.task(takes_context=True, **_declared_on())
def expire_offer(
    context: Any, model_label: str, pk: Any, attempt: int, recheck: int = 0
) -> dict[str, Any]:
    """Expire one offer at its deadline; stale, duplicate and early runs do nothing."""
    outcome = jobs.expire_offer(model_label, pk, attempt)
    delay = recheck_in(outcome, recheck)
    running = context.task_result
    if delay is not None and framework.task_backends[running.backend].supports_defer:
        # Ran before the deadline by the database clock: try again then, on
        # the backend and queue this run came from.
        run_after = timezone.now() + timedelta(seconds=delay)
        running.task.using(run_after=run_after).enqueue(
            model_label, pk, attempt, recheck + 1
        )
    return outcome


@framework.task(**_declared_on())
def deliver() -> dict[str, Any]:
    """Deliver pending notification events."""
    return jobs.deliver()
