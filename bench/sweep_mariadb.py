"""The portable sweep on MariaDB against its raw-SQL limit (part of ``bench/sweep.py``).

The library's side is ``sweep_queryset()`` on the ``maria`` database alias:
locked selection, one multi-row event INSERT and one UPDATE per batch of at
most 5,000 rows. The limit is what a hand-written sweep would do in one
transaction: one ``INSERT ... SELECT ... FOR UPDATE`` writing every due
row's event, then one ``UPDATE`` resetting them. MySQLdb (the ``mysql``
dependency group) and MariaDB on 127.0.0.1 (MYSQL_HOST, MYSQL_PORT,
MYSQL_USER, MYSQL_PASSWORD) are needed.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: The alias ``bench/sweep.py`` gives the MariaDB database.
ALIAS = "maria"


def database_settings(name: str) -> dict[str, Any]:
    """The ``DATABASES`` entry of the benchmark's MariaDB database."""
    return {
        "ENGINE": "django.db.backends.mysql",
        "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
        "PORT": os.environ.get("MYSQL_PORT", "3306"),
        "USER": os.environ.get("MYSQL_USER", "root"),
        "PASSWORD": os.environ.get("MYSQL_PASSWORD", ""),
        "NAME": name,
        "OPTIONS": {"charset": "utf8mb4"},
    }


def admin_sql(statement: str) -> None:
    """CREATE/DROP DATABASE on the MariaDB server."""
    import MySQLdb

    params = database_settings("")
    conn = MySQLdb.connect(
        host=params["HOST"],
        port=int(params["PORT"]),
        user=params["USER"],
        password=params["PASSWORD"],
    )
    try:
        conn.cursor().execute(statement)
    finally:
        conn.close()


def reset_with_due_offers(count: int) -> None:
    """Empty the tables, then insert ``count`` offers an hour past their deadline."""
    from django.db import connections
    from tests.testapp.models import Driver, StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    table = StockRequest._meta.db_table
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(f"DELETE FROM {AssignmentEvent._meta.db_table}")
        cursor.execute(f"DELETE FROM {table}")
        driver = Driver.objects.using(ALIAS).create(name="Ravi")
        cursor.execute("SET SESSION max_recursive_iterations = %s", [count + 1])
        cursor.execute(
            "INSERT INTO "
            f"{table} (status, assignment_attempt, note, assignment_mode, "
            "target_driver_id, assignment_started_at, assignment_expires_at) "
            "WITH RECURSIVE g (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
            "WHERE n < %s) SELECT 'ASSIGNING', 1, '', 'AUTO', %s, "
            "now(6) - INTERVAL 2 HOUR + INTERVAL n * 1000 MICROSECOND, "
            "now(6) - INTERVAL 1 HOUR - INTERVAL n * 1000 MICROSECOND FROM g",
            [count, driver.pk],
        )
        cursor.execute(f"ANALYZE TABLE {table}")
        cursor.fetchall()


def time_library_sweep(count: int) -> float:
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.sweep import sweep_queryset

    reset_with_due_offers(count)
    started = time.perf_counter()
    result = sweep_queryset(StockRequest._base_manager.using(ALIAS), max_batches=10**9)
    elapsed = time.perf_counter() - started
    assert result.expired_count == count, result
    return elapsed


def time_raw_statements(count: int) -> float:
    """One INSERT ... SELECT ... FOR UPDATE of the events, one UPDATE: the limit."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections, transaction
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    reset_with_due_offers(count)
    table = StockRequest._meta.db_table
    content_type = ContentType.objects.db_manager(ALIAS).get_for_model(StockRequest).pk
    due = "status = 'ASSIGNING' AND assignment_expires_at <= now(6)"
    started = time.perf_counter()
    with transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AssignmentEvent._meta.db_table} (content_type_id, "
            "object_pk, attempt, kind, assignee_pk, deadline) "
            f"SELECT {int(content_type)}, id, assignment_attempt, 'expired', "
            f"target_driver_id, assignment_expires_at FROM {table} WHERE {due} "
            "FOR UPDATE"
        )
        assert cursor.rowcount == count, cursor.rowcount
        cursor.execute(
            f"UPDATE {table} SET status = 'PENDING', target_driver_id = NULL, "
            "assignment_started_at = NULL, assignment_expires_at = NULL, "
            f"assignment_mode = NULL WHERE {due}"
        )
        assert cursor.rowcount == count, cursor.rowcount
    return time.perf_counter() - started


def measure(count: int, repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` rows/s of (library sweep, raw statements), alternating."""
    from django.core.management import call_command

    call_command("migrate", database=ALIAS, verbosity=0)
    sweep_s = raw_s = float("inf")
    for _ in range(repeat):
        sweep_s = min(sweep_s, time_library_sweep(count))
        raw_s = min(raw_s, time_raw_statements(count))
    return count / sweep_s, count / raw_s
