#!/usr/bin/env python3
"""Benchmark the sweep against its limit and against the hand-built loop.

    python bench/sweep.py [--rows 100000] [--loop-rows 2000] [--rss-rows 1000000]

Needs PostgreSQL (PGHOST, PGPORT, PGUSER, PGPASSWORD; default 127.0.0.1:5432,
user postgres) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/1)
for the loop's Celery publishes. It creates its own database, measures, and
drops it. Every figure is a ratio against a baseline measured in the same run,
on the same machine, so that the result does not depend on how fast the
machine is:

* the library's sweep of ``--rows`` due offers (rows/s), in its default batches;
* the limit: one raw SQL statement doing the same work for all rows at once
  (reset every due row and write its ``expired`` event);
* the GTS guide's loop on ``--loop-rows`` rows: query the due rows, then per
  row set the fields, ``save()``, and make one notification call. The guide's
  task triggers ``notify_eic_assignment_expired`` per row, so the call is a
  real Celery ``.delay()`` to Redis; the same loop with an in-process call is
  printed too, for reference;
* peak RSS of a fresh process that sweeps ``--rss-rows`` due rows (VmHWM);
* on MariaDB (``bench/sweep_mariadb.py``), the portable sweep of
  ``--maria-rows`` due offers against one raw ``INSERT ... SELECT ... FOR
  UPDATE`` of their events plus one ``UPDATE``, in one transaction.

Each speed is the best of ``--repeat`` runs, the sides alternating, each run
starting from a freshly filled table right after a checkpoint.

The last line is machine-readable:
``sweep_vs_raw=<float> sweep_vs_loop=<float> peak_rss_mb=<float>
maria_sweep_vs_raw=<float>``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The broker the hand-built loop publishes its notification tasks to.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def configure(database: str, maria: str | None = None) -> None:
    """Django settings for the benchmark database(s), then django.setup()."""
    import django
    from bench import sweep_mariadb
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
            },
            **(
                {sweep_mariadb.ALIAS: sweep_mariadb.database_settings(maria)}
                if maria
                else {}
            ),
        },
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DRIVER_ASSIGNMENT_TIMEOUT_SECONDS=300,
        TESTAPP_JOB_TIMEOUT_SECONDS=60,
        LOGGING_CONFIG=None,
    )
    django.setup()


def server_params(database: str) -> dict[str, str]:
    """psycopg.connect() arguments for ``database`` on the benchmark's server."""
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", ""),
        "dbname": database,
    }


def admin_sql(statement: str) -> None:
    """Run CREATE/DROP DATABASE on the server's maintenance database."""
    import psycopg

    with psycopg.connect(**server_params("postgres"), autocommit=True) as conn:
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
        # Start every timed run right after a checkpoint: one that falls due
        # inside a run would charge its writes to whichever side is running.
        cursor.execute("CHECKPOINT")


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


@contextmanager
def guide_notification_queue(expected: int) -> Iterator[Callable[[int, str], Any]]:
    """The guide's ``notify_eic_assignment_expired.delay``, on a real broker.

    Publishes to a Redis queue of its own (no worker runs: the benchmark
    measures the publish), checks that ``expected`` messages arrived, and
    deletes the queue.
    """
    from celery import Celery

    queue = f"bench-sweep-{os.getpid()}"
    app = Celery("gts_bench", broker=REDIS_URL, set_as_current=False)
    app.conf.task_default_queue = queue

    @app.task(name="logistics.notify_eic_assignment_expired")
    def notify_eic_assignment_expired(request_id: int, driver_name: str) -> None:
        """Never run here."""

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)  # a clear error if Redis is down
        try:
            yield notify_eic_assignment_expired.delay
            published = conn.default_channel.client.llen(queue)
            assert published == expected, published
        finally:
            conn.default_channel.client.delete(queue)


def time_hand_built_loop(count: int, notify: Callable[[int, str], Any]) -> float:
    """The GTS task: query due rows, then per row set fields, save(), ``notify``."""
    from datetime import timedelta

    from django.utils import timezone
    from tests.testapp.models import StockRequest

    reset_with_due_offers(count)
    started = time.perf_counter()
    cutoff = timezone.now() - timedelta(seconds=300)
    expired = StockRequest.objects.filter(
        status="ASSIGNING", assignment_started_at__lte=cutoff
    ).select_related("target_driver")
    done = 0
    for request in expired:
        driver_name = request.target_driver.name
        request.status = "PENDING"
        request.target_driver = None
        request.assignment_started_at = None
        request.assignment_expires_at = None
        request.assignment_mode = None
        request.save()
        notify(request.pk, driver_name)
        done += 1
    elapsed = time.perf_counter() - started
    assert done == count, done
    return elapsed


def notify_in_process(request_id: int, driver_name: str) -> str:
    """The reference loop's notification: a plain call that formats the text."""
    return f"{driver_name} did not accept trip {request_id}. Please reassign."


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


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB.

    Linux's VmHWM starts afresh at exec; ru_maxrss does not (it keeps the peak
    of the forking parent), which would charge the benchmark's own imports to
    the sweep.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(database: str) -> None:
    configure(database)
    from django.db import connection
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.sweep import sweep

    connection.ensure_connection()
    before = peak_rss_mb()
    result = sweep([StockRequest], max_batches=10**9)
    peak = peak_rss_mb()
    print(result.expired_count, f"{before:.1f}", f"{peak:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--loop-rows", type=int, default=2_000)
    parser.add_argument("--rss-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="best of N (default 10)")
    parser.add_argument(
        "--maria-rows",
        type=int,
        default=10_000,
        help="due offers for the MariaDB ratio (0 skips it)",
    )
    parser.add_argument("--child", metavar="DATABASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    from bench import sweep_mariadb

    database = f"bench_assignment_timeout_{os.getpid()}"
    maria = database if args.maria_rows else None
    admin_sql(f"CREATE DATABASE {database}")
    if maria:
        sweep_mariadb.admin_sql(f"CREATE DATABASE {maria}")
    try:
        configure(database, maria)
        from django.core.management import call_command
        from django.db import connections

        from django_assignment_timeout.conf import app_settings

        call_command("migrate", verbosity=0)
        print(f"batch size {app_settings.BATCH_SIZE}", flush=True)

        # Best of N, alternating, so that a burst of load on the machine does
        # not land on one side only.
        sweep_s = raw_s = loop_s = local_loop_s = float("inf")
        for _ in range(args.repeat):
            sweep_s = min(sweep_s, time_library_sweep(args.rows))
            raw_s = min(raw_s, time_raw_statement(args.rows))
            with guide_notification_queue(args.loop_rows) as publish:
                loop_s = min(loop_s, time_hand_built_loop(args.loop_rows, publish))
            local_loop_s = min(
                local_loop_s, time_hand_built_loop(args.loop_rows, notify_in_process)
            )
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
        print(
            f"  (same loop, notification an in-process call instead of a Celery "
            f"publish: {args.loop_rows / local_loop_s:.0f} rows/s, "
            f"sweep {sweep_rate * local_loop_s / args.loop_rows:.1f}x that)"
        )
        maria_ratio = float("nan")
        if maria:
            maria_rate, maria_raw = sweep_mariadb.measure(args.maria_rows, args.repeat)
            maria_ratio = maria_rate / maria_raw
            print(
                f"MariaDB sweep:    {maria_rate:10.0f} rows/s, raw INSERT ... SELECT "
                f"... FOR UPDATE + UPDATE {maria_raw:.0f} rows/s ({args.maria_rows} rows)"
            )
        before, peak = child_peak_rss(database, args.rss_rows)
        print(
            f"sweep of {args.rss_rows} rows: RSS {before:.1f} MB after start-up, peak {peak:.1f} MB"
        )
        connections.close_all()
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if maria:
            sweep_mariadb.admin_sql(f"DROP DATABASE IF EXISTS {maria}")
    print(
        f"sweep_vs_raw={sweep_rate / raw_rate:.3f} "
        f"sweep_vs_loop={sweep_rate / loop_rate:.1f} "
        f"peak_rss_mb={peak:.1f} "
        f"maria_sweep_vs_raw={maria_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
