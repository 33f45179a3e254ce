#!/usr/bin/env python3
"""Load scenario on PostgreSQL: many offers, concurrent sweepers, accepting clients.

    TEST_DATABASE=postgresql python bench/load.py [--offers 100000] [--clients 4]

``offers`` open offers get deadlines spread over ``window`` seconds. Then
``sweepers`` real scheduler processes (``manage.py expire_assignments
--loop``) expire them while ``clients`` threads, each with its own database
connection and its own driver, accept a sample of that driver's offers at
random times within ``jitter`` seconds either side of their deadlines.

Printed (and returned by :func:`run`, which ``tests/system/test_load.py``
calls on the test database): invariant violations (DESIGN.md 1-3, must be
0), outcomes, the sweep's lag behind deadlines, the accept latency p99
under load divided by the p99 of the same call with nothing else running,
measured in the same run, and the clients' lock waits, sampled from
``pg_locks`` (:class:`LockWaitSampler`) rather than inferred from latency.

Standalone it runs twice: with ``--clients`` (default 4) accepting
``--per-client`` offers each, few enough that clients and sweepers do not
saturate two cores, so the ratio shows what the sweepers cost an accept
(targets: ratio at most 3, lock-wait p99 under 10 ms); then, for reference,
with ``--cpu-bound-clients`` (default 50) accepting 20 each, where the
ratio is mostly CPU contention. The last line:
``p99_ratio=<float> lock_wait_p99_ms=<float> cpu_bound_p99_ratio=<float>``.

Standalone, it creates and drops its own database (``test_bench_load``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Seconds before its deadline an accept counts as clear of the sweep.
EARLY = 0.5


@dataclass
class Outcome:
    """One client's record: latencies (seconds) and what each accept returned."""

    accepted: list[float] = field(default_factory=list)
    accepted_early: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    accepted_pks: list[int] = field(default_factory=list)
    expired_pks: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


class LockWaitSampler(threading.Thread):
    """Samples ``pg_locks`` for the clients' backends: how long each lock wait lasted.

    Every ``interval`` seconds it reads the clients' ungranted locks with
    their ``waitstart`` (PostgreSQL 14+) and keeps, per wait, the longest
    duration seen; a wait shorter than the interval may be missed or
    measured short by up to one interval. :meth:`per_transaction` sums the
    waits of each transaction (an accept is one transaction).
    """

    def __init__(self, pids: list[int], interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.stopping = threading.Event()
        self.waits: dict[tuple[int, Any, Any], float] = {}

    def run(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                while not self.stopping.wait(self.interval):
                    cursor.execute(
                        "SELECT l.pid, a.xact_start, l.waitstart, extract(epoch FROM "
                        "clock_timestamp() - l.waitstart) FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted "
                        "AND l.waitstart IS NOT NULL AND l.pid = ANY(%s)",
                        [self.pids],
                    )
                    for pid, xact, began, seconds in cursor.fetchall():
                        key = (pid, xact, began)
                        self.waits[key] = max(self.waits.get(key, 0.0), float(seconds))
        finally:
            connection.close()

    def per_transaction(self) -> list[float]:
        totals: dict[tuple[int, Any], float] = {}
        for (pid, xact, _began), seconds in self.waits.items():
            totals[pid, xact] = totals.get((pid, xact), 0.0) + seconds
        return list(totals.values())


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _insert_offers(offers: int, driver_pks: list[int]) -> None:
    """``offers`` open offers with their ``offered`` events, in two statements.

    The rows and events are exactly what ``offer()`` writes (status, driver,
    attempt 1, start and deadline on the database clock, an ``offered``
    event carrying the deadline); writing them in bulk keeps the setup to
    seconds. Deadlines are parked an hour ahead until the load starts, and
    the offers' own notifications count as sent before it: the relay in the
    sweeper processes delivers what the load produces (the expiries).
    """
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    table = StockRequest._meta.db_table
    events = AssignmentEvent._meta.db_table
    content_type = ContentType.objects.get_for_model(StockRequest)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (status, target_driver_id, assignment_mode, note, "
            "assignment_started_at, assignment_expires_at, assignment_attempt) "
            "SELECT 'ASSIGNING', (%s::bigint[])[1 + g %% %s], 'AUTO', '', now(), "
            "now() + interval '1 hour', 1 FROM generate_series(0, %s - 1) AS g",
            [driver_pks, len(driver_pks), offers],
        )
        cursor.execute(
            f"INSERT INTO {events} (content_type_id, object_pk, attempt, kind, "
            "assignee_pk, deadline, delivery_state, next_attempt_at, delivered_at) "
            "SELECT %s, id::text, 1, 'offered', target_driver_id::text, "
            f"assignment_expires_at, 'delivered', NULL, now() FROM {table} "
            "WHERE status = 'ASSIGNING'",
            [content_type.pk],
        )
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"ANALYZE {events}")


def _spread_deadlines(lead: float, window: float) -> None:
    """Give every open offer (and its ``offered`` event) a deadline in the window."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    table = StockRequest._meta.db_table
    events = AssignmentEvent._meta.db_table
    content_type = ContentType.objects.get_for_model(StockRequest)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET assignment_expires_at = now() + "
            "make_interval(secs => %s + random() * %s) WHERE status = 'ASSIGNING'",
            [lead, window],
        )
        cursor.execute(
            f"UPDATE {events} e SET deadline = s.assignment_expires_at FROM {table} s "
            "WHERE e.content_type_id = %s AND e.kind = 'offered' "
            "AND e.object_pk = s.id::text AND s.status = 'ASSIGNING'",
            [content_type.pk],
        )


def _idle_latencies(samples: int, driver: Any) -> list[float]:
    """Accept latency with nothing else running: ``samples`` fresh offers, accepted."""
    from tests.testapp.models import StockRequest

    pks = [StockRequest.objects.create().pk for _ in range(samples)]
    for pk in pks:
        StockRequest.objects.offer(pk, driver)
    latencies = []
    for pk in pks:
        started = time.perf_counter()
        StockRequest.objects.accept(pk, driver, attempt=1)
        latencies.append(time.perf_counter() - started)
    return latencies


def _client(
    driver: Any,
    schedule: list[tuple[float, int, bool]],
    outcome: Outcome,
    start: threading.Event,
    pids: list[int],
) -> None:
    """Accept each (local time, pk, early) of ``schedule`` when its time comes."""
    from django.db import connection
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.exceptions import OfferExpired

    connection.ensure_connection()
    pids.append(connection.connection.info.backend_pid)  # for the lock sampler
    start.wait()
    try:
        for when, pk, early in schedule:
            delay = when - time.time()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            try:
                StockRequest.objects.accept(pk, driver, attempt=1)
            except OfferExpired:
                outcome.refused.append(time.perf_counter() - started)
                outcome.expired_pks.append(pk)
            except Exception as err:
                outcome.unexpected.append(f"{pk}: {err!r}")
            else:
                outcome.accepted.append(time.perf_counter() - started)
                if early:
                    outcome.accepted_early.append(outcome.accepted[-1])
                outcome.accepted_pks.append(pk)
    finally:
        connection.close()


def _child_env(db_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.support.child_settings",
        CHILD_DB_NAME=db_name,
        CHILD_APP_NAME="bench-load-sweeper",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def run(
    *,
    offers: int = 100_000,
    sweepers: int = 4,
    clients: int = 50,
    per_client: int = 20,
    window: float = 30.0,
    jitter: float = 1.5,
    idle_samples: int = 300,
    seed: int = 8,
) -> dict[str, Any]:
    """Run the scenario on the configured (PostgreSQL) database; return the figures."""
    from django.db import connection
    from tests.system.invariants import violations
    from tests.testapp.models import Driver, StockRequest

    from django_assignment_timeout.models import AssignmentEvent
    from django_assignment_timeout.options import EXPIRES_AT

    rng = random.Random(seed)
    began = time.monotonic()
    drivers = Driver.objects.bulk_create(
        Driver(name=f"driver {i}") for i in range(clients)
    )
    _insert_offers(offers, [d.pk for d in drivers])
    idle = _idle_latencies(idle_samples, drivers[0])
    setup_seconds = time.monotonic() - began

    # Each sweeper's stderr goes to a file read afterwards (a pipe nobody
    # reads could fill up and stall it).
    logs = [tempfile.TemporaryFile() for _ in range(sweepers)]  # noqa: SIM115 - closed below
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "expire_assignments",
                "--loop",
                "--interval=0.5",
                "--batch-size=500",
            ],
            cwd=ROOT,
            env=_child_env(str(connection.settings_dict["NAME"])),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for log in logs
    ]
    try:
        # Each client's sample is chosen first, so that after the deadlines
        # are spread only those rows are read back (not all of them).
        samples = {
            driver.pk: rng.sample(
                list(
                    StockRequest.objects.filter(
                        target_driver=driver, status="ASSIGNING"
                    ).values_list("pk", flat=True)
                ),
                per_client,
            )
            for driver in drivers
        }
        # Deadlines start once the sweepers are up (they import Django first).
        lead = 4.0
        _spread_deadlines(lead, window)
        with connection.cursor() as cursor:
            cursor.execute("SELECT extract(epoch FROM clock_timestamp())")
            clock_offset = float(cursor.fetchone()[0]) - time.time()
        deadlines = dict(
            StockRequest.objects.filter(
                pk__in=[pk for pks in samples.values() for pk in pks]
            ).values_list("pk", EXPIRES_AT)
        )
        start = threading.Event()
        outcomes, threads = [], []
        pids: list[int] = []
        for driver in drivers:
            offsets = {pk: rng.uniform(-jitter, jitter) for pk in samples[driver.pk]}
            schedule = sorted(
                (
                    deadlines[pk].timestamp() - clock_offset + offset,
                    pk,
                    # Well before the deadline: no sweep batch holds the row.
                    offset < -EARLY,
                )
                for pk, offset in offsets.items()
            )
            outcome = Outcome()
            outcomes.append(outcome)
            threads.append(
                threading.Thread(
                    target=_client, args=(driver, schedule, outcome, start, pids)
                )
            )
        for thread in threads:
            thread.start()
        while len(pids) < len(threads) and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        sampler = LockWaitSampler(pids)
        sampler.start()
        load_began = time.monotonic()
        start.set()
        for thread in threads:
            thread.join(timeout=lead + window + jitter + 120)
        sampler.stopping.set()
        sampler.join(timeout=10)
        # The sweepers catch up with the last deadlines (they also deliver
        # every expiry notification, which takes longer than expiring).
        deadline = time.monotonic() + 180
        while StockRequest.objects.due().exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        load_seconds = time.monotonic() - load_began
        still_due = StockRequest.objects.due().count()
    finally:
        _stop(processes)
    sweeper_errors = []
    for log in logs:
        log.seek(0)
        sweeper_errors.append(log.read().decode(errors="replace"))
        log.close()

    found = violations(StockRequest)
    accepted = [pk for o in outcomes for pk in o.accepted_pks]
    expired = [pk for o in outcomes for pk in o.expired_pks]
    unexpected = [u for o in outcomes for u in o.unexpected]
    statuses = dict(
        StockRequest.objects.filter(pk__in=accepted + expired).values_list(
            "pk", "status"
        )
    )
    # What each client was told must be what the database holds.
    found += [
        f"{pk}: accepted but {statuses[pk]}"
        for pk in accepted
        if statuses[pk] != "ASSIGNED"
    ]
    found += [
        f"{pk}: told expired but {statuses[pk]}"
        for pk in expired
        if statuses[pk] != "PENDING"
    ]
    found += [f"unexpected: {u}" for u in unexpected]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(0.99) WITHIN GROUP "
            "(ORDER BY created_at - deadline), "
            f"max(created_at - deadline) FROM {AssignmentEvent._meta.db_table} "
            "WHERE kind = 'expired'"
        )
        lag_p99, lag_max = cursor.fetchone()
    under_load = [t for o in outcomes for t in o.accepted]
    early = [t for o in outcomes for t in o.accepted_early]
    refused = [t for o in outcomes for t in o.refused]
    idle_p99 = percentile(idle, 0.99)
    # Every accept's lock wait, zero for those the sampler never saw waiting.
    waits = sampler.per_transaction()
    attempts = sum(len(o.accepted) + len(o.refused) for o in outcomes)
    waits += [0.0] * max(0, attempts - len(waits))
    load_p99 = percentile(under_load, 0.99)
    return {
        "offers": offers,
        "sweepers": sweepers,
        "clients": clients,
        "accepts_attempted": len(accepted) + len(expired) + len(unexpected),
        "accepted": len(accepted),
        "refused_expired": len(expired),
        "expired_events": AssignmentEvent.objects.filter(kind="expired").count(),
        "pending_rows": StockRequest.objects.filter(status="PENDING").count(),
        "still_due": still_due,
        "violations": len(found),
        "violation_examples": found[:10],
        "sweeper_errors": [e for e in sweeper_errors if "Error" in e or "failed" in e][
            :3
        ],
        "sweep_lag_p99_s": lag_p99.total_seconds() if lag_p99 is not None else None,
        "sweep_lag_max_s": lag_max.total_seconds() if lag_max is not None else None,
        "accept_p99_idle_ms": round(idle_p99 * 1000, 2),
        "accept_p99_load_ms": round(load_p99 * 1000, 2),
        "refused_p99_load_ms": round(percentile(refused, 0.99) * 1000, 2),
        "p99_ratio": round(load_p99 / idle_p99, 2),
        # Accepts made over EARLY seconds before the deadline, which no sweep
        # batch can be holding: what is left is CPU contention, not locks.
        "accept_p99_load_early_ms": round(percentile(early, 0.99) * 1000, 2),
        "p99_ratio_early": round(percentile(early, 0.99) / idle_p99, 2),
        "lock_waits_seen": len(sampler.waits),
        "lock_wait_p99_ms": round(percentile(waits, 0.99) * 1000, 2),
        "lock_wait_max_ms": round(max(waits, default=0.0) * 1000, 2),
        "setup_s": round(setup_seconds, 1),
        "load_s": round(load_seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--sweepers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-client", type=int, default=50)
    parser.add_argument(
        "--cpu-bound-clients",
        type=int,
        default=50,
        help="clients of the reference run that saturates the cores (0 skips it)",
    )
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    os.environ.setdefault("TEST_DATABASE", "postgresql")
    os.environ.setdefault("TEST_DB_NAME", "bench_load")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.db import connection

    django.setup()
    if connection.vendor != "postgresql":
        print(
            "bench/load.py needs PostgreSQL (TEST_DATABASE=postgresql)", file=sys.stderr
        )
        return 2
    runs = {"measured": (args.clients, args.per_client)}
    if args.cpu_bound_clients:
        runs["cpu_bound"] = (args.cpu_bound_clients, 20)
    results = {}
    for name, (clients, per_client) in runs.items():
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            results[name] = run(
                offers=args.offers,
                sweepers=args.sweepers,
                clients=clients,
                per_client=per_client,
                window=args.window,
            )
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        print(name, json.dumps(results[name], indent=2), flush=True)
    measured = results["measured"]
    cpu_bound = results.get("cpu_bound", {})
    print(
        f"p99_ratio={measured['p99_ratio']} "
        f"lock_wait_p99_ms={measured['lock_wait_p99_ms']} "
        f"cpu_bound_p99_ratio={cpu_bound.get('p99_ratio', float('nan'))}"
    )
    return 1 if any(r["violations"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
