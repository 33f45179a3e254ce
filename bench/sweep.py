#!/usr/bin/env python3
"""Benchmark the sweep against its limit and against the hand-built loop.

    python bench/sweep.py [--rows 100000] [--loop-rows 2000] [--rss-rows 1000000]

Needs PostgreSQL (PGHOST, PGPORT, PGUSER, PGPASSWORD; default 127.0.0.1:5432,
user postgres). It creates its own database, measures, and drops it. Every
figure is a ratio against a baseline measured in the same run, on the same
machine, so that the result does not depend on how fast the machine is:

* the library's sweep of ``--rows`` due offers (rows/s), in its default batches;
* the limit: one raw SQL statement doing the same work for all rows at once
  (reset every due row and write its ``expired`` event);
  (these two: best of ``--repeat`` alternating runs);
* the GTS guide's loop on ``--loop-rows`` rows: query the due rows, then per
  row set the fields, ``save()``, and make one notification call;
* peak RSS of a fresh process that sweeps ``--rss-rows`` due rows (ru_maxrss).

The last line is machine-readable:
``sweep_vs_raw=<float> sweep_vs_loop=<float> peak_rss_mb=<float>``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def configure(database: str) -> None:
    """Django settings for the benchmark database, then django.setup()."""
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_assignment_timeout",
            "tests.testapp",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": os.environ.get("PGHOST", "127.0.0.1"),
                "PORT": os.environ.get("PGPORT", "5432"),
                "USER": os.environ.get("PGUSER", "postgres"),
                "PASSWORD": os.environ.get("PGPASSWORD", ""),
                "NAME": database,
            }
        },
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DRIVER_ASSIGNMENT_TIMEOUT_SECONDS=300,
        LOGGING_CONFIG=None,
    )
    django.setup()


def admin_sql(statement: str) -> None:
    """Run CREATE/DROP DATABASE on the server's maintenance database."""
    import psycopg

    with psycopg.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(statement)


def reset_with_due_offers(count: int) -> None:
    """Empty the tables, then insert ``count`` offers whose deadline has passed."""
    from django.db import connection
    from tests.testapp.models import Driver, StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    table = StockRequest._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}, {AssignmentEvent._meta.db_table}")
        driver = Driver.objects.create(name="Ravi")
        # Deadlines spread over the last hour, so ORDER BY has work to do.
        cursor.execute(
            f"INSERT INTO {table} (status, assignment_attempt, note, assignment_mode, "
            "target_driver_id, assignment_started_at, assignment_expires_at) "
            "SELECT 'ASSIGNING', 1, '', 'AUTO', %s, "
            "now() - interval '2 hours' + interval '1 ms' * g, "
            "now() - interval '1 hour' - interval '1 ms' * g "
            "FROM generate_series(1, %s) AS g",
            [driver.pk, count],
        )
        cursor.execute(f"VACUUM ANALYZE {table}")


def time_library_sweep(count: int) -> float:
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.sweep import sweep

    reset_with_due_offers(count)
    started = time.perf_counter()
    result = sweep([StockRequest], max_batches=10**9)
    elapsed = time.perf_counter() - started
    assert result.expired_count == count, result
    return elapsed


def time_raw_statement(count: int) -> float:
    """One statement: reset every due row and insert its event (the limit)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    reset_with_due_offers(count)
    table = StockRequest._meta.db_table
    events = AssignmentEvent._meta.db_table
    content_type = ContentType.objects.get_for_model(StockRequest).pk
    sql = (
        f"WITH due AS (SELECT id, assignment_attempt, target_driver_id, assignment_expires_at "
        f"FROM {table} WHERE status = 'ASSIGNING' AND assignment_expires_at <= now()), "
        f"expired AS (UPDATE {table} t SET status = 'PENDING', target_driver_id = NULL, "
        "assignment_started_at = NULL, assignment_expires_at = NULL, assignment_mode = NULL "
        "FROM due WHERE t.id = due.id RETURNING due.*) "
        f"INSERT INTO {events} (content_type_id, object_pk, attempt, kind, assignee_pk, deadline) "
        f"SELECT {content_type}, id::text, assignment_attempt, 'expired', "
        "target_driver_id::text, assignment_expires_at FROM expired"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        assert cursor.rowcount == count, cursor.rowcount
    return time.perf_counter() - started


def time_hand_built_loop(count: int) -> float:
    """The GTS task: query due rows, then per row set fields, save(), notify."""
    from datetime import timedelta

    from django.utils import timezone
    from tests.testapp.models import StockRequest

    notified = []

    def notify_eic_assignment_expired(request_id: int, driver_name: str) -> None:
        # Stands in for ``notify_eic_assignment_expired.delay(...)``.
        notified.append(
            f"{driver_name} did not accept trip {request_id}. Please reassign."
        )

    reset_with_due_offers(count)
    started = time.perf_counter()
    cutoff = timezone.now() - timedelta(seconds=300)
    expired = StockRequest.objects.filter(
        status="ASSIGNING", assignment_started_at__lte=cutoff
    ).select_related("target_driver")
    for request in expired:
        driver_name = request.target_driver.name
        request.status = "PENDING"
        request.target_driver = None
        request.assignment_started_at = None
        request.assignment_expires_at = None
        request.assignment_mode = None
        request.save()
        notify_eic_assignment_expired(request.pk, driver_name)
    elapsed = time.perf_counter() - started
    assert len(notified) == count, len(notified)
    return elapsed


def child_peak_rss(database: str, count: int) -> tuple[float, float]:
    """Sweep ``count`` due rows in a fresh process; its RSS before and at peak (MB)."""
    reset_with_due_offers(count)
    out = subprocess.run(
        [sys.executable, __file__, "--child", database],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    expired, before, peak = int(out[-3]), float(out[-2]), float(out[-1])
    assert expired == count, (expired, count)
    return before, peak


def child(database: str) -> None:
    configure(database)
    from django.db import connection
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.sweep import sweep

    connection.ensure_connection()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = sweep([StockRequest], max_batches=10**9)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(result.expired_count, f"{before:.1f}", f"{peak:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--loop-rows", type=int, default=2_000)
    parser.add_argument("--rss-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--child", metavar="DATABASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    database = f"bench_assignment_timeout_{os.getpid()}"
    admin_sql(f"CREATE DATABASE {database}")
    try:
        configure(database)
        from django.core.management import call_command
        from django.db import connections

        from django_assignment_timeout.conf import app_settings

        call_command("migrate", verbosity=0)
        print(f"batch size {app_settings.BATCH_SIZE}", flush=True)

        # Best of three, alternating, so that a burst of load on the machine
        # does not land on one side only.
        sweep_s = raw_s = float("inf")
        for _ in range(args.repeat):
            sweep_s = min(sweep_s, time_library_sweep(args.rows))
            raw_s = min(raw_s, time_raw_statement(args.rows))
        loop_s = time_hand_built_loop(args.loop_rows)
        sweep_rate, raw_rate = args.rows / sweep_s, args.rows / raw_s
        loop_rate = args.loop_rows / loop_s
        print(
            f"library sweep:    {sweep_rate:10.0f} rows/s ({args.rows} rows, {sweep_s:.2f}s)"
        )
        print(
            f"raw statement:    {raw_rate:10.0f} rows/s ({args.rows} rows, {raw_s:.2f}s)"
        )
        print(
            f"hand-built loop:  {loop_rate:10.0f} rows/s ({args.loop_rows} rows, {loop_s:.2f}s)"
        )
        before, peak = child_peak_rss(database, args.rss_rows)
        print(
            f"sweep of {args.rss_rows} rows: RSS {before:.1f} MB after start-up, peak {peak:.1f} MB"
        )
        connections.close_all()
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    print(
        f"sweep_vs_raw={sweep_rate / raw_rate:.3f} "
        f"sweep_vs_loop={sweep_rate / loop_rate:.1f} "
        f"peak_rss_mb={peak:.1f}"
    )


if __name__ == "__main__":
    main()
