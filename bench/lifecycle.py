#!/usr/bin/env python3
"""Benchmark the write path: each transition against the same statements in raw SQL.

    python bench/lifecycle.py [--rows 500] [--repeat 5] [--databases postgresql,mysql,sqlite]

Per row, three workloads: offer + accept (``attempt=1``), offer + reject and
offer + expire (``force=True``), each transition in its own transaction. The
library's side calls ``StockRequest.objects.offer()`` and the others; the raw
side runs the statements the library runs on that database, written out by
hand for the test app's table, with the values the database returns passed
straight to the next statement. Neither side's after-commit work is timed:
the library runs with a scheduler whose triggers do nothing (the default
command scheduler's ``NOTIFY`` after each commit is printed for reference).

PostgreSQL (PGHOST, PGPORT, PGUSER, PGPASSWORD; default 127.0.0.1:5432, user
postgres) is required; MariaDB or MySQL (MYSQL_HOST, MYSQL_PORT, MYSQL_USER,
MYSQL_PASSWORD; default 127.0.0.1:3306, root) and SQLite (a file in the
temporary directory) are measured when available. Each database is created
for the run and dropped after it. Each figure is the best of ``--repeat``
runs, the two sides alternating, every run starting from ``--rows`` pending
rows and no events; ratios compare sides measured in the same run.

The last line is machine-readable: ``offer_accept_vs_raw=<float>`` (PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

#: The library's scheduler while it is timed: the transitions' after-commit
#: triggers run (signals too), and do nothing, as the raw side does nothing.
QUIET_SCHEDULER = {"BACKEND": "bench.quiet_scheduler.QuietScheduler", "OPTIONS": {}}
WORKLOADS = ("accept", "reject", "expire")


def database_settings(name: str, sqlite_path: str) -> dict[str, dict[str, Any]]:
    env = os.environ.get
    return {
        "postgresql": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": env("PGHOST", "127.0.0.1"),
            "PORT": env("PGPORT", "5432"),
            "USER": env("PGUSER", "postgres"),
            "PASSWORD": env("PGPASSWORD", ""),
            "NAME": name,
        },
        "mysql": {
            "ENGINE": "django.db.backends.mysql",
            "HOST": env("MYSQL_HOST", "127.0.0.1"),
            "PORT": env("MYSQL_PORT", "3306"),
            "USER": env("MYSQL_USER", "root"),
            "PASSWORD": env("MYSQL_PASSWORD", ""),
            "NAME": name,
            "OPTIONS": {"charset": "utf8mb4"},
        },
        "sqlite": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        },
    }


def configure(databases: dict[str, dict[str, Any]]) -> None:
    """Django settings with one alias per database (PostgreSQL is ``default``)."""
    import django
    from django.conf import settings

    aliases = {("default" if v == "postgresql" else v): s for v, s in databases.items()}
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_assignment_timeout",
            "tests.testapp",
        ],
        DATABASES=aliases,
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DRIVER_ASSIGNMENT_TIMEOUT_SECONDS=300,
        TESTAPP_JOB_TIMEOUT_SECONDS=60,
        ASSIGNMENT_TIMEOUT_SCHEDULER=QUIET_SCHEDULER,
        LOGGING_CONFIG=None,
    )
    django.setup()


def create_server_databases(name: str, wanted: list[str]) -> list[str]:
    """Create ``name`` on each server; the vendors that have it (PostgreSQL must)."""
    import psycopg

    env = os.environ.get
    with psycopg.connect(
        host=env("PGHOST", "127.0.0.1"),
        port=env("PGPORT", "5432"),
        user=env("PGUSER", "postgres"),
        password=env("PGPASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    available = ["postgresql", "sqlite"]
    if "mysql" in wanted:
        try:
            mysql_admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            available.append("mysql")
        except Exception as err:  # no server, no client library: say so
            print(f"MariaDB/MySQL not measured: {err}", flush=True)
    return [v for v in wanted if v in available]


def mysql_admin(statement: str) -> None:
    import MySQLdb

    env = os.environ.get
    conn = MySQLdb.connect(
        host=env("MYSQL_HOST", "127.0.0.1"),
        port=int(env("MYSQL_PORT", "3306")),
        user=env("MYSQL_USER", "root"),
        password=env("MYSQL_PASSWORD", ""),
    )
    try:
        conn.cursor().execute(statement)
    finally:
        conn.close()


def drop_server_databases(name: str, vendors: list[str]) -> None:
    import psycopg

    env = os.environ.get
    with psycopg.connect(
        host=env("PGHOST", "127.0.0.1"),
        port=env("PGPORT", "5432"),
        user=env("PGUSER", "postgres"),
        password=env("PGPASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if "mysql" in vendors:
        mysql_admin(f"DROP DATABASE IF EXISTS {name}")


def reset(alias: str, rows: int) -> list[int]:
    """``rows`` pending rows and no events; their keys."""
    from django.db import connections
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    StockRequest.objects.using(alias).all().delete()
    AssignmentEvent.objects.using(alias).all().delete()
    StockRequest.objects.using(alias).bulk_create(
        [StockRequest(assignment_mode="AUTO") for _ in range(rows)]
    )
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM ANALYZE {StockRequest._meta.db_table}")
            cursor.execute("CHECKPOINT")
    return list(StockRequest.objects.using(alias).values_list("pk", flat=True))


def library(alias: str, workload: str) -> Callable[[int, int], None]:
    """One row's offer and answer through the library's QuerySet."""
    from tests.testapp.models import StockRequest

    objects = StockRequest.objects.db_manager(alias)

    def run(pk: int, driver: int) -> None:
        objects.offer(pk, driver)
        if workload == "accept":
            objects.accept(pk, driver, attempt=1)
        elif workload == "reject":
            objects.reject(pk, driver, attempt=1)
        else:
            objects.expire(pk, force=True)

    return run


def raw(alias: str, workload: str) -> Callable[[int, int], None]:
    """The same statements as the library on ``alias``'s database, by hand."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections, transaction
    from tests.testapp.models import StockRequest

    connection = connections[alias]
    vendor = connection.vendor
    ct = ContentType.objects.db_manager(alias).get_for_model(StockRequest).pk
    t = StockRequest._meta.db_table
    e = "assignment_timeout_assignmentevent"
    cols = "content_type_id, object_pk, attempt, kind, assignee_pk, deadline, reason, created_at"
    back = (
        "id, content_type_id, object_pk, attempt, kind, assignee_pk, deadline, reason, "
        "created_at, delivery_state, delivery_attempts, next_attempt_at, delivered_at, "
        "last_error"
    )
    now = {
        "postgresql": "STATEMENT_TIMESTAMP()",
        "sqlite": "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')",
        "mysql": "UTC_TIMESTAMP(6)",
    }[vendor]
    deadline = {
        "postgresql": f"{now} + %s",
        "sqlite": f"django_format_dtdelta('+', {now}, %s)",
        "mysql": f"{now} + INTERVAL %s MICROSECOND",
    }[vendor]
    # What Django binds for a duration: an interval, else microseconds.
    seconds: Any = timedelta(seconds=300) if vendor == "postgresql" else 300_000_000
    hint = " FORCE INDEX (PRIMARY)" if vendor == "mysql" else ""
    offer_sql = (
        f"UPDATE {t} SET status = 'ASSIGNING', target_driver_id = %s, "
        f"assignment_started_at = {now}, assignment_expires_at = {deadline}, "
        "assignment_attempt = assignment_attempt + 1 WHERE id = %s AND status = 'PENDING' "
        "AND EXISTS (SELECT 1 FROM testapp_driver WHERE id = %s)"
    )
    reset_set = (
        "status = 'PENDING', target_driver_id = NULL, assignment_started_at = NULL, "
        "assignment_expires_at = NULL, assignment_mode = NULL"
    )
    answer_set = {
        "accept": "status = 'ASSIGNED', assignment_expires_at = NULL",
        "reject": reset_set,
    }
    kind = {"accept": "accepted", "reject": "rejected", "expire": "expired"}[workload]
    live = (
        "id = %s AND status = 'ASSIGNING' AND target_driver_id = %s "
        f"AND assignment_expires_at > {now} AND assignment_attempt = %s"
    )
    atomic = transaction.atomic

    def run_returning(pk: int, driver: int) -> None:  # PostgreSQL, SQLite
        with atomic(using=alias), connection.cursor() as c:
            c.execute(
                offer_sql + " RETURNING assignment_attempt, assignment_expires_at",
                [driver, seconds, pk, driver],
            )
            attempt, until = c.fetchone()
            c.execute(
                f"INSERT INTO {e} ({cols}) VALUES (%s, %s, %s, 'offered', %s, %s, '', {now}) "
                f"RETURNING {back}",
                [ct, str(pk), attempt, str(driver), until],
            )
            c.fetchone()
        with atomic(using=alias), connection.cursor() as c:
            if workload == "expire" and vendor == "postgresql":
                c.execute(
                    f"UPDATE {t} SET {reset_set} FROM (SELECT id AS pk, "
                    "assignment_attempt AS attempt, target_driver_id AS assignee, "
                    f"assignment_expires_at AS deadline FROM {t} WHERE id = %s AND "
                    f"status = 'ASSIGNING') AS old WHERE {t}.id = old.pk AND "
                    f"{t}.status = 'ASSIGNING' AND {t}.assignment_attempt = old.attempt "
                    "RETURNING old.attempt, old.assignee, old.deadline",
                    [pk],
                )
                attempt, who, until = c.fetchone()
                values = [ct, str(pk), attempt, str(who), until, ""]
                stamp = now
            elif workload == "expire":  # SQLite: read what the UPDATE clears
                c.execute(
                    "SELECT assignment_attempt, target_driver_id, assignment_expires_at "
                    f"FROM {t} WHERE id = %s AND status = 'ASSIGNING'",
                    [pk],
                )
                attempt, who, until = c.fetchone()
                c.execute(
                    f"UPDATE {t} SET {reset_set} WHERE id = %s AND status = 'ASSIGNING' "
                    "AND assignment_attempt = %s",
                    [pk, attempt],
                )
                values = [ct, str(pk), attempt, str(who), until, ""]
                stamp = now
            else:
                c.execute(
                    f"UPDATE {t} SET {answer_set[workload]} WHERE {live} "
                    f"RETURNING assignment_attempt, {now}",
                    [pk, driver, 1],
                )
                attempt, decided = c.fetchone()
                values = [ct, str(pk), attempt, str(driver), None, "", decided]
                stamp = "%s"
            c.execute(
                f"INSERT INTO {e} ({cols}) VALUES (%s, %s, %s, '{kind}', %s, %s, %s, {stamp}) "
                f"RETURNING {back}",
                values,
            )
            c.fetchone()

    def run_mysql(pk: int, driver: int) -> None:  # MariaDB: no UPDATE RETURNING
        with atomic(using=alias), connection.cursor() as c:
            c.execute(offer_sql, [driver, seconds, pk, driver])
            c.execute(
                f"INSERT INTO {e} ({cols}) SELECT %s, %s, assignment_attempt, 'offered', "
                f"%s, assignment_expires_at, '', {now} FROM {t} WHERE id = %s RETURNING {back}",
                [ct, str(pk), str(driver), pk],
            )
            c.fetchone()
        with atomic(using=alias), connection.cursor() as c:
            if workload == "expire":
                c.execute(
                    "SELECT assignment_attempt, target_driver_id, assignment_expires_at "
                    f"FROM {t}{hint} WHERE id = %s AND status = 'ASSIGNING' FOR UPDATE",
                    [pk],
                )
                attempt, who, until = c.fetchone()
                c.execute(
                    f"UPDATE {t}{hint} SET {reset_set} WHERE id = %s "
                    "AND status = 'ASSIGNING' AND assignment_attempt = %s",
                    [pk, attempt],
                )
                c.execute(
                    f"INSERT INTO {e} ({cols}) VALUES (%s, %s, %s, 'expired', %s, %s, '', "
                    f"{now}) RETURNING {back}",
                    [ct, str(pk), attempt, str(who), until],
                )
                c.fetchone()
                return
            c.execute(
                f"INSERT INTO {e} ({cols}) SELECT %s, %s, assignment_attempt, '{kind}', %s, "
                f"NULL, '', {now} FROM {t}{hint} WHERE {live} FOR UPDATE RETURNING {back}",
                [ct, str(pk), str(driver), pk, driver, 1],
            )
            attempt = c.fetchone()[3]
            c.execute(
                f"UPDATE {t}{hint} SET {answer_set[workload]} WHERE id = %s "
                "AND status = 'ASSIGNING' AND assignment_attempt = %s",
                [pk, attempt],
            )

    return run_mysql if vendor == "mysql" else run_returning


def timed(alias: str, rows: int, run: Callable[[int, int], None]) -> float:
    """Seconds for ``run`` over ``rows`` fresh rows; checks every row ended right."""
    from tests.testapp.models import Driver, StockRequest

    keys = reset(alias, rows)
    driver = Driver.objects.using(alias).create(name="Ravi").pk
    started = time.perf_counter()
    for pk in keys:
        run(pk, driver)
    elapsed = time.perf_counter() - started
    states = set(StockRequest.objects.using(alias).values_list("status", flat=True))
    assert states <= {"ASSIGNED", "PENDING"} and len(states) == 1, states
    return elapsed


def measure(alias: str, rows: int, repeat: int) -> dict[str, tuple[float, float]]:
    """Best pairs/s of (library, raw) for each workload, sides alternating."""
    best = {w: [float("inf"), float("inf")] for w in WORKLOADS}
    for _ in range(repeat):
        for workload in WORKLOADS:
            sides = (library(alias, workload), raw(alias, workload))
            for side, run in enumerate(sides):
                best[workload][side] = min(
                    best[workload][side], timed(alias, rows, run)
                )
    return {w: (rows / lib, rows / raw_s) for w, (lib, raw_s) in best.items()}


def with_command_scheduler(alias: str, rows: int, repeat: int) -> float:
    """Library offer + accept pairs/s with the default scheduler's after-commit NOTIFYs."""
    from django.conf import settings

    from django_assignment_timeout.conf import DEFAULT_SCHEDULER

    settings.ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": DEFAULT_SCHEDULER,
        "OPTIONS": {},
    }
    try:
        run = library(alias, "accept")
        return rows / min(timed(alias, rows, run) for _ in range(repeat))
    finally:
        settings.ASSIGNMENT_TIMEOUT_SCHEDULER = QUIET_SCHEDULER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500, help="rows per run (500)")
    parser.add_argument("--repeat", type=int, default=5, help="best of N (default 5)")
    parser.add_argument(
        "--databases",
        default="postgresql,mysql,sqlite",
        help="postgresql (always), mysql, sqlite",
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="PostgreSQL: this session's commits do not wait for the WAL flush",
    )
    args = parser.parse_args()
    wanted = [
        "postgresql",
        *(v for v in args.databases.split(",") if v != "postgresql"),
    ]

    # A SIGTERM (``timeout``) still drops the databases: the finally runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name = f"bench_lifecycle_{os.getpid()}"
    sqlite_path = os.path.join(tempfile.gettempdir(), f"{name}.sqlite3")
    vendors = create_server_databases(name, wanted)
    try:
        configure({v: database_settings(name, sqlite_path)[v] for v in vendors})
        from django.core.management import call_command
        from django.db import connections

        aliases = {v: "default" if v == "postgresql" else v for v in vendors}
        for alias in aliases.values():
            call_command("migrate", database=alias, verbosity=0)
        if args.no_sync:
            # Session-level only: on a machine where the flush at each commit
            # dominates, this shows what the two sides cost besides it.
            with connections["default"].cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
        results = {}
        for vendor, alias in aliases.items():
            results[vendor] = measure(alias, args.rows, args.repeat)
            for workload, (lib, raw_rate) in results[vendor].items():
                print(
                    f"{vendor:10} offer + {workload:6}  library {lib:7.0f} pairs/s  "
                    f"raw {raw_rate:7.0f} pairs/s  ratio {lib / raw_rate:.3f}",
                    flush=True,
                )
        notify = with_command_scheduler("default", args.rows, args.repeat)
        lib, raw_rate = results["postgresql"]["accept"]
        print(
            f"postgresql offer + accept with the command scheduler's NOTIFYs after "
            f"each commit: {notify:.0f} pairs/s ({notify / raw_rate:.3f} of raw)"
        )
        connections.close_all()
    finally:
        drop_server_databases(name, vendors)
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(sqlite_path + suffix):
                os.remove(sqlite_path + suffix)
    print(f"offer_accept_vs_raw={lib / raw_rate:.3f}")


if __name__ == "__main__":
    main()
