"""The application side of the fault tests, as child processes.

    python -m tests.support.fault_client seed <count> <timeout>
    python -m tests.support.fault_client web <stop_file> <acks_file>
    python -m tests.support.fault_client due
    python -m tests.support.fault_client audit <acks_file|-> <sends_log|->
    python -m tests.support.fault_client accept <pk> <driver_pk> <seconds_left>

Each runs on the database its ``CHILD_*`` settings name (a private
PostgreSQL cluster for the restart and partition faults), so the test process
never needs a Django connection to it. Prints one JSON line.

``web`` works as a web server's request handlers do: every operation is one
request, with Django's connection handling around it (``close_old_connections``
before and after, as ``request_started`` / ``request_finished`` do). It offers
a new assignment with a 2 s timeout and accepts every other one at once; every
operation it was told succeeded is appended to ``acks_file``, so ``audit`` can
prove none of them was lost. A failed request (the database is down) is
counted by error and the loop goes on, as the next request would.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import django

#: The offer timeout of ``web``: short, so that offers expire during the fault.
WEB_TIMEOUT = 2.0


def seed(count: int, timeout: float) -> dict[str, Any]:
    """A driver and ``count`` assignments offered to them."""
    from tests.testapp.models import Driver, StockRequest

    driver = Driver.objects.create(name="Ravi")
    pks = [StockRequest.objects.create().pk for _ in range(count)]
    for pk in pks:
        StockRequest.objects.offer(pk, driver, timeout=timeout)
    return {"driver": driver.pk, "pks": pks}


def web(stop_file: Path, acks_file: Path) -> dict[str, Any]:
    """Requests until ``stop_file`` exists; what they did and how they failed."""
    from django.db import DatabaseError, close_old_connections

    from tests.testapp.models import Driver, StockRequest

    driver: Any = None
    done: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    with acks_file.open("a") as acks:
        while not stop_file.exists():
            close_old_connections()
            try:
                if driver is None:
                    driver = Driver.objects.create(name="web")
                row = StockRequest.objects.create()
                event = StockRequest.objects.offer(row.pk, driver, timeout=WEB_TIMEOUT)
                acks.write(f"offered {row.pk} {event.attempt}\n")
                done["offered"] += 1
                if row.pk % 2:
                    StockRequest.objects.accept(row.pk, driver, attempt=event.attempt)
                    acks.write(f"accepted {row.pk} {event.attempt}\n")
                    done["accepted"] += 1
            except DatabaseError as error:
                errors[type(error).__name__] += 1
                time.sleep(0.05)  # the next request, not a busy loop
            finally:
                acks.flush()
                close_old_connections()
    return {"done": dict(done), "errors": dict(errors)}


def audit(acks_file: Path | None, sends_log: Path | None) -> dict[str, Any]:
    """The invariants, the rows' states, and what was lost or sent twice.

    Sweepers may still be running, so everything is read from one snapshot:
    read statement by statement, a row expired between the read of its
    events and the read of its state looks pending with its offer unended.
    The sends log is read after the snapshot is taken, so it holds every
    send of every event the snapshot shows delivered.
    """
    from django.db import connection, transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _audit(acks_file, sends_log)


def _audit(acks_file: Path | None, sends_log: Path | None) -> dict[str, Any]:
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Count

    from django_assignment_timeout.models import AssignmentEvent
    from tests.system.invariants import violations
    from tests.system.notifiers import sends
    from tests.testapp.models import StockRequest

    events = AssignmentEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(StockRequest)
    )
    # The first read takes the snapshot; the sends log is read after it.
    recorded = set(events.values_list("kind", "object_pk", "attempt"))
    acked = []
    if acks_file is not None and acks_file.exists():
        acked = [line.split() for line in acks_file.read_text().splitlines()]
    lost_acks = [
        " ".join(ack) for ack in acked if (ack[0], ack[1], int(ack[2])) not in recorded
    ]
    sent = sends(str(sends_log)) if sends_log is not None else {}
    return {
        "violations": violations(StockRequest),
        "status": dict(
            StockRequest.objects.values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        ),
        "events": dict(
            events.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n")
        ),
        "acked": len(acked),
        "lost_acks": lost_acks,
        "undelivered": AssignmentEvent.objects.undelivered().count(),
        "dead": AssignmentEvent.objects.dead().count(),
        "never_sent": dict(
            events.exclude(pk__in=list(sent))
            .values_list("kind")
            .annotate(n=Count("pk"))
            .values_list("kind", "n")
        ),
        "duplicated": sum(n - 1 for n in sent.values()),
    }


def accept(pk: int, driver: int, seconds_left: float) -> dict[str, Any]:
    """Move offer ``pk``'s deadline ``seconds_left`` from now (database clock;
    negative: past), accept it as ``driver`` at once; the verdict, and what
    this process's own clock would have said (the test skews it)."""
    from django.db import connection
    from django.utils import timezone

    from django_assignment_timeout.exceptions import TransitionError
    from django_assignment_timeout.options import EXPIRES_AT
    from django_assignment_timeout.testing import make_due
    from tests.testapp.models import StockRequest

    make_due(StockRequest, pk, seconds_ago=-seconds_left)
    expires_at = StockRequest.objects.values_list(EXPIRES_AT, flat=True).get(pk=pk)
    local_now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (database_now,) = cursor.fetchone()
    try:
        StockRequest.objects.accept(pk, driver)
        verdict = "accepted"
    except TransitionError as refusal:
        verdict = type(refusal).__name__
    return {
        "verdict": verdict,
        "local_says_in_time": local_now < expires_at,
        "skew": (local_now - database_now).total_seconds(),
    }


def main(argv: list[str]) -> dict[str, Any]:
    django.setup()
    command, args = argv[0], argv[1:]
    if command == "seed":
        return seed(int(args[0]), float(args[1]))
    if command == "web":
        return web(Path(args[0]), Path(args[1]))
    if command == "due":
        from django_assignment_timeout.testing import make_due
        from tests.testapp.models import StockRequest

        return {"due": make_due(StockRequest)}
    if command == "audit":
        acks, sends_log = (None if arg == "-" else Path(arg) for arg in args)
        return audit(acks, sends_log)
    if command == "accept":
        return accept(int(args[0]), int(args[1]), float(args[2]))
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), default=str), flush=True)
