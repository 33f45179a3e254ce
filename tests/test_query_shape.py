"""Bounded work: queries per sweep batch, and the plan of the due-selection."""

from __future__ import annotations

import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_assignment_timeout.heartbeat import record_sweep
from django_assignment_timeout.models import _short_name
from django_assignment_timeout.sweep import expire_batch, sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest

ROWS = 100_000


def queries_for_one_batch(size):
    with CaptureQueriesContext(connection) as captured:
        expired = expire_batch(StockRequest._base_manager.all(), size)
    assert len(expired) == size
    return len(captured.captured_queries)


@pytest.mark.django_db
def test_queries_per_batch_do_not_depend_on_the_batch_size(driver):
    offered_requests(driver, 31)
    make_due(StockRequest)
    ContentType.objects.get_for_model(StockRequest)  # cached, as in a running process
    counts = {size: queries_for_one_batch(size) for size in (1, 10, 20)}
    assert len(set(counts.values())) == 1, counts
    # PostgreSQL: one statement; elsewhere SELECT, INSERT, UPDATE (plus the
    # savepoint pair the test's own transaction adds).
    assert counts[1] <= 5, counts


@pytest.mark.django_db
def test_queries_per_sweep_grow_with_batches_not_rows(driver):
    offered_requests(driver, 24)
    make_due(StockRequest)
    ContentType.objects.get_for_model(StockRequest)
    # This process's heartbeat for the model is fresh: neither sweep writes
    # one (the throttle holds it for 15 s), so both count only their batches.
    record_sweep([StockRequest._meta.label])
    with CaptureQueriesContext(connection) as small:
        first = sweep([StockRequest], batch_size=4, max_batches=3)  # 12 rows, 3 batches
    with CaptureQueriesContext(connection) as large:
        second = sweep([StockRequest], batch_size=12, max_batches=1)  # 12 rows, 1 batch
    assert (first.expired_count, second.expired_count) == (12, 12)
    per_batch = (len(small) - len(large)) / 2  # two more batches, nothing else
    assert per_batch == int(per_batch) and 1 <= per_batch <= 5
    assert len(large) <= per_batch + 2  # one batch and the has_more probe


def insert_rows_with_nothing_due(driver):
    """100,000 rows, mostly not offered, 1,000 offered with future deadlines."""
    table = StockRequest._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (status, assignment_attempt, note) "
            "SELECT CASE WHEN g %% 3 = 0 THEN 'ASSIGNED' ELSE 'PENDING' END, 1, '' "
            "FROM generate_series(1, %s) AS g",
            [ROWS - 1000],
        )
        cursor.execute(
            f"INSERT INTO {table} (status, assignment_attempt, note, target_driver_id, "
            "assignment_started_at, assignment_expires_at) "
            "SELECT 'ASSIGNING', 1, '', %s, now(), now() + interval '1 hour' * g "
            "FROM generate_series(1, 1000) AS g",
            [driver.pk],
        )
        cursor.execute(f"ANALYZE {table}")


def captured_sweep_statement():
    """The SQL and parameters of the sweep's batch statement."""
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert sweep([StockRequest]).expired_count == 0
    (statement,) = [(sql, p) for sql, p in statements if sql.startswith("WITH due")]
    return statement


def plan(cursor):
    return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgresql
@pytest.mark.django_db
def test_with_nothing_due_the_sweep_reads_the_partial_index(driver):
    insert_rows_with_nothing_due(driver)
    sql, params = captured_sweep_statement()
    index = _short_name(StockRequest._meta.db_table, "dl_ix")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        custom = plan(cursor)
        # Server-side binding (psycopg's server_side_binding, PgBouncer's
        # prepared statements) ends in PostgreSQL's generic plan, planned
        # without the parameter values: the index must serve it as well.
        numbered = iter(range(1, len(params) + 1))
        prepared = re.sub("%s", lambda _: f"${next(numbered)}", sql)
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE sweep_batch AS {prepared}")
        try:
            placeholders = ", ".join(["%s"] * len(params))
            cursor.execute(f"EXPLAIN EXECUTE sweep_batch({placeholders})", params)
            generic = plan(cursor)
        finally:
            cursor.execute("DEALLOCATE sweep_batch")
            cursor.execute("RESET plan_cache_mode")
    for text in (custom, generic):
        assert "Seq Scan" not in text, text
        assert index in text, text
    assert "$1" in generic  # it really was planned without the values


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_sweep_runs_with_server_side_binding(driver):
    offered_requests(driver, 3)
    make_due(StockRequest)
    options = connection.settings_dict["OPTIONS"]
    connection.close()
    options["server_side_binding"] = True
    try:
        result = sweep([StockRequest], batch_size=2)
        assert connection.connection.cursor_factory.__name__ == "ServerBindingCursor"
    finally:
        connection.close()
        del options["server_side_binding"]
    assert result.expired_count == 3
    assert set(StockRequest.objects.values_list("status", flat=True)) == {"PENDING"}


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_full_batch_does_not_scan_the_whole_table(driver):
    # The batch's UPDATE must reach its rows by primary key. Joined to the
    # locked selection instead, the planner sizes the join by the LIMIT and
    # hashes the whole table once per batch: a sweep of a large backlog then
    # costs batches x table size.
    insert_rows_with_nothing_due(driver)
    sql, params = captured_sweep_statement()
    table = StockRequest._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'ASSIGNING', target_driver_id = %s, "
            "assignment_started_at = now() - interval '1 hour', "
            "assignment_expires_at = now() - interval '1 second' * id "
            "WHERE id %% 5 = 0 AND status = 'PENDING'",
            [driver.pk],
        )
        assert cursor.rowcount > 10_000  # two full batches due, at least
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"EXPLAIN {sql}", params)
        text = plan(cursor)
    assert "Seq Scan" not in text, text
    assert f"Index Scan using {table}_pkey" in text, text
