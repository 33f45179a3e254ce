"""What the Huey scheduler checks and enqueues, in its own Django.

    python -m tests.support.huey_probe checks
    python -m tests.support.huey_probe schedule <pk> <attempt>

djhuey reads ``HUEY`` once, when imported, so each configuration needs a
fresh interpreter (settings from ``tests.support.child_settings``).
``checks`` prints the configured scheduler's check ids. ``schedule`` flushes
the queue, then reports what ``schedule_expiry`` and ``schedule_delivery``
enqueue with ``precise`` and ``deliver`` off and then on, and what an
``expire_offer`` run before offer ``<pk>``'s deadline enqueues. Prints one
JSON line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import django


def _queued(huey: Any) -> list[dict[str, Any]]:
    """The enqueued tasks (an ETA task waits here until a consumer reads it)."""
    return [
        {
            "name": task.name,
            "args": list(task.args),
            "eta": None if task.eta is None else task.eta.isoformat(),
        }
        for task in huey.pending()
    ]


def _schedule(scheduler: Any, model: Any, pk: int, attempt: int, when: Any) -> None:
    scheduler.schedule_expiry(model, pk, attempt, when)
    scheduler.schedule_delivery()


def main(argv: list[str]) -> dict[str, Any]:
    django.setup()
    from django_assignment_timeout.schedulers import get_scheduler

    if argv[0] == "checks":
        return {"checks": [message.id for message in get_scheduler().check()]}

    from django.utils import timezone
    from huey.contrib.djhuey import HUEY

    from django_assignment_timeout.schedulers.huey import HueyScheduler
    from django_assignment_timeout.schedulers.huey import tasks as huey_tasks
    from tests.testapp.models import StockRequest

    pk, attempt = int(argv[1]), int(argv[2])
    deadline = StockRequest.objects.get(pk=pk).assignment_expires_at
    HUEY.flush()
    off = HueyScheduler("default", {"precise": False, "deliver": False})
    _schedule(off, StockRequest, pk, attempt, deadline)
    found: dict[str, Any] = {"off": _queued(HUEY)}
    _schedule(HueyScheduler("default", {}), StockRequest, pk, attempt, deadline)
    found["on"] = _queued(HUEY)
    HUEY.flush()
    found["early_outcome"] = huey_tasks.expire_offer.call_local(
        StockRequest._meta.label, pk, attempt
    )
    found["early"] = _queued(HUEY)
    found["deadline"] = deadline.isoformat()
    found["now"] = timezone.now().isoformat()
    HUEY.flush()
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)
