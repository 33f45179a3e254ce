#!/usr/bin/env python3
"""The library's costs as the tables grow: 10^5, 10^6 and 10^7 rows on PostgreSQL.

    nice python bench/scale.py [--sizes 100000,1000000,10000000] [--repeat 3]

For each size N a database of its own (``bench_scale_<N>``) holds N
assignment rows (history: pending and finished, no open offer, plus 1,000
open offers due in an hour) and N events (delivered, created over the past
year), filled once with ``generate_series`` and kept: a later run reuses it
and prints the fill time it took. Every measurement puts the tables back as
it found them, so the sizes stay what their names say, and a run stopped
midway is repaired when the next one starts. ``--drop`` removes the
databases.

At each size, each beside its raw-SQL equivalent at the same size (best of
``--repeat``, the two sides alternating):

* sweep rows/s for 10,000 due offers (``sweep()``; raw: one statement that
  resets them and writes their events, as in ``bench/sweep.py``);
* idle sweep time, nothing due (``sweep()``; raw: the locked due selection
  alone);
* accept p50/p99 (``StockRequest.objects.accept`` on offers made by
  ``offer()``; raw: the conditional UPDATE and the event INSERT in one
  transaction);
* relay events/s for the 10,000 ``expired`` events (``deliver_pending()``
  with the in-memory notifier; raw: one UPDATE marking them delivered).

The last line is machine-readable:
``sweep_1e7_vs_1e5=<float> accept_p99_1e7_vs_1e5=<float> sweep_vs_raw_1e7=<float>``
(the largest and smallest sizes run stand in for 10^7 and 10^5).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.sweep import admin_sql, configure  # noqa: E402

#: Due offers each sweep and relay measurement works on.
DUE = 10_000
#: Open offers that are not due, so the deadline index is never empty.
OPEN = 1_000
#: Accepts timed per side and repeat.
ACCEPTS = 200
#: Idle sweeps timed per side and repeat.
IDLE = 50

TABLE = "testapp_stockrequest"
EVENTS = "assignment_timeout_assignmentevent"
#: ``%s`` pending rows from a random place in the table on, by primary key
#: (the random start is an InitPlan: drawn once, not per row), wrapping round.
PICK_PENDING = (
    f"(SELECT id FROM {TABLE} WHERE status = 'PENDING' AND id > "
    f"(SELECT (max(id) * random())::bigint FROM {TABLE}) ORDER BY id LIMIT %s) "
    f"UNION ALL (SELECT id FROM {TABLE} WHERE status = 'PENDING' ORDER BY id LIMIT %s)"
)


@dataclass
class Figures:
    """One size's measurements (seconds, or rows per second)."""

    rows: int
    fill_s: float
    sweep_rate: float = 0.0
    raw_sweep_rate: float = 0.0
    idle_s: float = math.inf
    raw_idle_s: float = math.inf
    accept_p50_s: float = math.inf
    accept_p99_s: float = math.inf
    raw_accept_p50_s: float = math.inf
    raw_accept_p99_s: float = math.inf
    relay_rate: float = 0.0
    raw_relay_rate: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


#: Databases are named ``<PREFIX>_<rows>`` (``--prefix``; tests use their own).
PREFIX = "bench_scale"


def database_for(rows: int) -> str:
    return f"{PREFIX}_{rows}"


def database_exists(name: str) -> bool:
    import psycopg
    from bench.sweep import server_params

    with psycopg.connect(**server_params("postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run ``statement`` on the benchmark database; its rows, if any."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else []


def fill(rows: int) -> float:
    """Fill an empty benchmark database with ``rows`` rows and events; seconds taken."""
    from django.contrib.contenttypes.models import ContentType
    from tests.testapp.models import Driver, StockRequest

    started = time.perf_counter()
    driver = Driver.objects.create(name="Ravi")
    content_type = ContentType.objects.get_for_model(StockRequest).pk
    history = rows - OPEN
    # Finished work: every other row pending, the rest delivered; no offer open.
    sql(
        f"INSERT INTO {TABLE} (status, assignment_attempt, note, target_driver_id) "
        "SELECT CASE WHEN g %% 2 = 0 THEN 'PENDING' ELSE 'DELIVERED' END, 1, '', "
        "CASE WHEN g %% 2 = 0 THEN NULL ELSE %s END "
        "FROM generate_series(1, %s) AS g",
        [driver.pk, history],
    )
    sql(
        f"INSERT INTO {TABLE} (status, assignment_attempt, note, assignment_mode, "
        "target_driver_id, assignment_started_at, assignment_expires_at) "
        "SELECT 'ASSIGNING', 1, '', 'AUTO', %s, now(), "
        "now() + interval '1 hour' + interval '1 ms' * g "
        "FROM generate_series(1, %s) AS g",
        [driver.pk, OPEN],
    )
    # One delivered 'offered' event per row, created over the past year.
    sql(
        f"INSERT INTO {EVENTS} (content_type_id, object_pk, attempt, kind, "
        "assignee_pk, deadline, created_at, delivery_state, next_attempt_at, "
        "delivered_at) "
        "SELECT %s, id::text, 1, 'offered', %s, now(), "
        "now() - interval '1 year' * random(), 'delivered', NULL, now() "
        f"FROM {TABLE}",
        [content_type, str(driver.pk)],
    )
    sql(f"VACUUM ANALYZE {TABLE}")
    sql(f"VACUUM ANALYZE {EVENTS}")
    seconds = time.perf_counter() - started
    sql("CREATE TABLE bench_scale_fill (rows bigint, seconds float)")
    sql("INSERT INTO bench_scale_fill VALUES (%s, %s)", [rows, seconds])
    return seconds


def restore(rows: int) -> None:
    """Put a kept database back to its filled state, whatever a run left behind.

    The fill gave the history rows the first ids and the open offers the
    last :data:`OPEN`, and wrote events 1 to ``rows``. A run stopped midway
    may leave offers or events of its own, and the open offers' deadlines
    (an hour after the fill) fall due as time passes.
    """
    history = rows - OPEN
    sql(
        f"UPDATE {TABLE} SET status = 'PENDING', target_driver_id = NULL, "
        "assignment_mode = NULL, assignment_started_at = NULL, "
        "assignment_expires_at = NULL "
        "WHERE status IN ('ASSIGNING', 'ASSIGNED') AND id <= %s",
        [history],
    )
    sql(
        f"UPDATE {TABLE} SET assignment_expires_at = now() + interval '1 hour' "
        "+ interval '1 ms' * (id - %s) WHERE id > %s",
        [history, history],
    )
    sql(f"DELETE FROM {EVENTS} WHERE id > %s", [rows])


def make_due(count: int) -> list[int]:
    """Turn ``count`` pending rows into offers past their deadline; their ids."""
    from tests.testapp.models import Driver

    driver = Driver.objects.get()
    found = sql(
        f"WITH picked AS (SELECT DISTINCT id FROM ({PICK_PENDING}) AS p LIMIT %s) "
        f"UPDATE {TABLE} t SET status = 'ASSIGNING', target_driver_id = %s, "
        "assignment_mode = 'AUTO', assignment_attempt = assignment_attempt + 1, "
        "assignment_started_at = now() - interval '2 hours', "
        "assignment_expires_at = now() - interval '1 hour' + interval '1 ms' * (t.id %% 1000000) "
        "FROM picked WHERE t.id = picked.id RETURNING t.id",
        [count, count, count, driver.pk],
    )
    assert len(found) == count, f"only {len(found)} pending rows, {count} needed"
    return [pk for (pk,) in found]


def drop_events_since(first_id: int) -> None:
    """Delete the events a measurement wrote, so the table keeps its size."""
    sql(f"DELETE FROM {EVENTS} WHERE id >= %s", [first_id])


def next_event_id() -> int:
    return int(sql(f"SELECT coalesce(max(id), 0) + 1 FROM {EVENTS}")[0][0])


def time_sweep(raw: bool) -> float:
    """Seconds to expire :data:`DUE` due offers, by the library or raw SQL."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.sweep import sweep

    make_due(DUE)
    sql("CHECKPOINT")
    content_type = ContentType.objects.get_for_model(StockRequest).pk
    started = time.perf_counter()
    if raw:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "WITH due AS (SELECT id, assignment_attempt, target_driver_id, "
                f"assignment_expires_at FROM {TABLE} WHERE status = 'ASSIGNING' "
                "AND assignment_expires_at <= now()), "
                f"expired AS (UPDATE {TABLE} t SET status = 'PENDING', "
                "target_driver_id = NULL, assignment_started_at = NULL, "
                "assignment_expires_at = NULL, assignment_mode = NULL "
                "FROM due WHERE t.id = due.id RETURNING due.*) "
                f"INSERT INTO {EVENTS} (content_type_id, object_pk, attempt, kind, "
                "assignee_pk, deadline) "
                f"SELECT {int(content_type)}, id::text, assignment_attempt, 'expired', "
                "target_driver_id::text, assignment_expires_at FROM expired"
            )
            expired = cursor.rowcount
    else:
        expired = sweep([StockRequest], max_batches=10**9).expired_count
    elapsed = time.perf_counter() - started
    assert expired == DUE, expired
    return elapsed


def time_relay(raw: bool) -> float:
    """Seconds to deliver the :data:`DUE` events the last sweep wrote."""
    from django_assignment_timeout.delivery import deliver_pending
    from django_assignment_timeout.notifiers import locmem

    waiting = f"SELECT count(*) FROM {EVENTS} WHERE next_attempt_at IS NOT NULL"
    assert sql(waiting)[0][0] == DUE
    started = time.perf_counter()
    if raw:
        sql(
            f"UPDATE {EVENTS} SET delivery_state = 'delivered', delivered_at = now(), "
            "next_attempt_at = NULL, delivery_attempts = delivery_attempts + 1 "
            "WHERE next_attempt_at IS NOT NULL"
        )
    else:
        delivered = 0
        while True:
            result = deliver_pending()
            delivered += result.delivered
            if not result.has_more:
                break
        assert delivered == DUE, delivered
    elapsed = time.perf_counter() - started
    assert sql(waiting)[0][0] == 0
    locmem.outbox.clear()
    return elapsed


def time_idle(raw: bool) -> float:
    """Median seconds of a sweep that finds nothing due."""
    from django.db import transaction
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.sweep import sweep

    times = []
    for _ in range(IDLE):
        started = time.perf_counter()
        if raw:
            with transaction.atomic():
                sql(
                    f"SELECT id FROM {TABLE} WHERE status = 'ASSIGNING' "
                    "AND assignment_expires_at <= now() "
                    "ORDER BY assignment_expires_at LIMIT 10000 FOR UPDATE SKIP LOCKED"
                )
        else:
            assert sweep([StockRequest]).expired_count == 0
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_accepts(raw: bool) -> list[float]:
    """Latency of :data:`ACCEPTS` accepts of fresh offers; rows put back after."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from tests.testapp.models import Driver, StockRequest

    driver = Driver.objects.get()
    content_type = ContentType.objects.get_for_model(StockRequest).pk
    first_event = next_event_id()
    pks = [
        pk
        for (pk,) in sql(
            f"SELECT DISTINCT id FROM ({PICK_PENDING}) AS p LIMIT %s",
            [ACCEPTS, ACCEPTS, ACCEPTS],
        )
    ]
    attempts = {pk: StockRequest.objects.offer(pk, driver).attempt for pk in pks}
    times = []
    for pk in pks:
        started = time.perf_counter()
        if raw:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {TABLE} SET status = 'ASSIGNED', "
                    "assignment_expires_at = NULL WHERE id = %s "
                    "AND status = 'ASSIGNING' AND target_driver_id = %s "
                    "AND assignment_attempt = %s AND assignment_expires_at > now()",
                    [pk, driver.pk, attempts[pk]],
                )
                assert cursor.rowcount == 1
                cursor.execute(
                    f"INSERT INTO {EVENTS} (content_type_id, object_pk, attempt, kind, "
                    "assignee_pk, next_attempt_at) "
                    "VALUES (%s, %s, %s, 'accepted', %s, now())",
                    [content_type, str(pk), attempts[pk], str(driver.pk)],
                )
        else:
            StockRequest.objects.accept(pk, driver, attempt=attempts[pk])
        times.append(time.perf_counter() - started)
    # Back to the history they came from: pending, no driver, events gone.
    sql(
        f"UPDATE {TABLE} SET status = 'PENDING', target_driver_id = NULL, "
        "assignment_mode = NULL, assignment_started_at = NULL, "
        "assignment_expires_at = NULL WHERE id = ANY(%s)",
        [pks],
    )
    drop_events_since(first_event)
    return times


def measure(rows: int, fill_s: float, repeat: int) -> Figures:
    figures = Figures(rows, fill_s)
    for _ in range(repeat):
        for raw in (False, True):
            first_event = next_event_id()
            rate = DUE / time_sweep(raw)
            relay = DUE / time_relay(raw)
            drop_events_since(first_event)
            idle = time_idle(raw)
            accepts = time_accepts(raw)
            p50, p99 = percentile(accepts, 0.5), percentile(accepts, 0.99)
            if raw:
                figures.raw_sweep_rate = max(figures.raw_sweep_rate, rate)
                figures.raw_relay_rate = max(figures.raw_relay_rate, relay)
                figures.raw_idle_s = min(figures.raw_idle_s, idle)
                figures.raw_accept_p50_s = min(figures.raw_accept_p50_s, p50)
                figures.raw_accept_p99_s = min(figures.raw_accept_p99_s, p99)
            else:
                figures.sweep_rate = max(figures.sweep_rate, rate)
                figures.relay_rate = max(figures.relay_rate, relay)
                figures.idle_s = min(figures.idle_s, idle)
                figures.accept_p50_s = min(figures.accept_p50_s, p50)
                figures.accept_p99_s = min(figures.accept_p99_s, p99)
    return figures


def run_size(rows: int, repeat: int) -> Figures:
    """Fill (or reuse) the database for ``rows``, measure it, close it."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    database = database_for(rows)
    if not database_exists(database):
        admin_sql(f"CREATE DATABASE {database}")
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = database
    connections["default"].settings_dict["NAME"] = database
    call_command("migrate", verbosity=0)
    filled = sql(
        "SELECT rows, seconds FROM bench_scale_fill"
        if sql("SELECT to_regclass('bench_scale_fill')")[0][0]
        else "SELECT NULL, NULL WHERE false"
    )
    if filled:
        fill_s = float(filled[0][1])
        print(f"{rows:>10,} rows: reusing {database} (filled in {fill_s:.1f}s)")
        restore(rows)
    else:
        print(f"{rows:>10,} rows: filling {database} ...", flush=True)
        fill_s = fill(rows)
        print(f"{rows:>10,} rows: filled in {fill_s:.1f}s", flush=True)
    figures = measure(rows, fill_s, repeat) if repeat else Figures(rows, fill_s)
    connections.close_all()
    return figures


def report(f: Figures) -> None:
    ms = 1000
    print(
        f"{f.rows:>10,} rows: sweep {f.sweep_rate:,.0f} rows/s (raw {f.raw_sweep_rate:,.0f}, "
        f"{f.sweep_rate / f.raw_sweep_rate:.3f}); idle sweep {f.idle_s * ms:.2f} ms "
        f"(raw {f.raw_idle_s * ms:.2f}); accept p50 {f.accept_p50_s * ms:.2f} ms "
        f"p99 {f.accept_p99_s * ms:.2f} ms (raw {f.raw_accept_p50_s * ms:.2f} / "
        f"{f.raw_accept_p99_s * ms:.2f}); relay {f.relay_rate:,.0f} events/s "
        f"(raw {f.raw_relay_rate:,.0f})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    global PREFIX
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument(
        "--repeat", type=int, default=3, help="best of N (default 3; 0: only fill)"
    )
    parser.add_argument(
        "--drop", action="store_true", help="drop the databases at the end"
    )
    parser.add_argument("--prefix", default=PREFIX, help="database name prefix")
    args = parser.parse_args(argv)
    PREFIX = args.prefix
    sizes = sorted(int(size) for size in args.sizes.split(","))
    configure("postgres")
    from django.conf import settings

    # Deliveries go to memory: the relay's own cost, not a network's.
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "default": {
            "BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"
        }
    }
    results = []
    try:
        for rows in sizes:
            results.append(run_size(rows, args.repeat))
            if args.repeat:
                report(results[-1])
    finally:
        if args.drop:
            for rows in sizes:
                admin_sql(f"DROP DATABASE IF EXISTS {database_for(rows)} WITH (FORCE)")
    if not args.repeat:
        return
    small, large = results[0], results[-1]
    print(
        f"sweep_1e7_vs_1e5={large.sweep_rate / small.sweep_rate:.3f} "
        f"accept_p99_1e7_vs_1e5={large.accept_p99_s / small.accept_p99_s:.3f} "
        f"sweep_vs_raw_1e7={large.sweep_rate / large.raw_sweep_rate:.3f}"
    )


if __name__ == "__main__":
    main()
