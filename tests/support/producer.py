"""A producer subprocess: makes offers with the scheduler its settings select.

    python -m tests.support.producer offer <pk> <driver_pk> <timeout>
    python -m tests.support.producer huey-sweep
    python -m tests.support.producer huey-info
    python -m tests.support.producer huey-sweep-here

Used where the scheduler's framework binds its configuration at import
(djhuey reads ``HUEY`` once), so the pytest process can not switch it.
Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import django


def main(argv: list[str]) -> dict[str, Any]:
    django.setup()
    command = argv[0]
    if command == "offer":
        from tests.testapp.models import StockRequest

        pk, driver, timeout = int(argv[1]), int(argv[2]), float(argv[3])
        event = StockRequest.objects.offer(pk, driver, timeout=timeout)
        assert event.deadline is not None  # an offer always has one
        return {"attempt": event.attempt, "deadline": event.deadline.isoformat()}
    from huey.contrib.djhuey import HUEY

    from django_assignment_timeout.schedulers.huey import tasks as huey_tasks

    if command == "huey-sweep":
        huey_tasks.sweep()  # enqueue one sweep for the consumer
        return {"enqueued": True}
    if command == "huey-sweep-here":
        # The periodic sweep run in this process (sweep, then arm), as the
        # consumer runs it, so that what it sends stays in Huey's queue.
        return huey_tasks.sweep.call_local()  # type: ignore[no-any-return]
    if command == "huey-info":
        periodic = [
            f"{task.__module__}.{task.__name__}"
            for task in HUEY._registry._periodic_tasks
        ]
        with HUEY.lock_task("assignment-timeout-sweep"):
            while_locked = huey_tasks.sweep.call_local()
        return {"periodic": periodic, "while_locked": while_locked}
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)
