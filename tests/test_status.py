"""The status summary: offers, sweeper, outbox and lateness, from cheap queries."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.heartbeat import SweeperHeartbeat
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.status import (
    current_status,
    lateness_status,
    percentile,
)
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db


def _by_model(status):
    return {m.model: m for m in status.models}


def test_an_idle_project_reads_as_zeros_and_nones():
    status = current_status()
    assert set(_by_model(status)) == {
        "testapp.StockRequest",
        "testapp.Ticket",
        "testapp.Job",
        "testapp.Load",
    }
    for model in status.models:
        assert (model.open_offers, model.due_offers) == (0, 0)
        assert model.oldest_overdue_seconds is None
        assert model.last_swept_at is None and model.swept_by == ""
    assert (status.outbox.backlog, status.outbox.dead_letters) == (0, 0)
    assert status.outbox.oldest_pending_age_seconds is None
    assert status.lateness.count == 0 and status.lateness.p99_seconds is None
    assert status.sweeper_last_run_at is None and status.sweeper_age_seconds is None
    assert status.sweep_interval_seconds == 60.0


def test_open_and_due_offers_and_the_oldest_overdue(driver):
    rows = offered_requests(driver, 4)
    make_due(StockRequest, rows[0].pk, seconds_ago=30)
    make_due(StockRequest, rows[1].pk, seconds_ago=10)
    stock = _by_model(current_status())["testapp.StockRequest"]
    assert (stock.open_offers, stock.due_offers) == (4, 2)
    assert 30 <= stock.oldest_overdue_seconds < 40
    assert _by_model(current_status([Ticket]))["testapp.Ticket"].open_offers == 0
    assert [m.model for m in current_status([Ticket]).models] == ["testapp.Ticket"]


def test_the_sweeper_is_the_least_recently_swept_model():
    sweep([Ticket])
    status = current_status()
    ticket = _by_model(status)["testapp.Ticket"]
    assert ticket.last_swept_at is not None
    assert 0 <= ticket.last_swept_age_seconds < 10
    assert ticket.swept_by.endswith(f":{__import__('os').getpid()}")
    # StockRequest was never swept: the sweeper as a whole has not run.
    assert status.sweeper_last_run_at is None
    sweep()
    SweeperHeartbeat.objects.filter(name="testapp.Ticket").update(
        last_run_at=deadline_in(-120)
    )
    status = current_status()
    assert (
        status.sweeper_last_run_at == _by_model(status)["testapp.Ticket"].last_swept_at
    )
    assert 120 <= status.sweeper_age_seconds < 130


def test_the_outbox_backlog_its_oldest_age_and_dead_letters(driver):
    offered_requests(driver, 3)
    first, second, third = AssignmentEvent.objects.order_by("id")
    AssignmentEvent.objects.filter(pk=first.pk).update(created_at=deadline_in(-90))
    # What the relay writes when it gives up, and when it delivers.
    AssignmentEvent.objects.filter(pk=second.pk).update(
        delivery_state=DeliveryState.DEAD, next_attempt_at=None
    )
    AssignmentEvent.objects.filter(pk=third.pk).update(
        delivery_state=DeliveryState.DELIVERED,
        next_attempt_at=None,
        delivered_at=deadline_in(0),
    )
    outbox = current_status().outbox
    assert (outbox.backlog, outbox.dead_letters) == (1, 1)
    assert 90 <= outbox.oldest_pending_age_seconds < 100


def _expire_late_by(driver, *seconds):
    rows = offered_requests(driver, len(seconds))
    for row, late in zip(rows, seconds, strict=True):
        make_due(StockRequest, row.pk, seconds_ago=late)
    assert sweep([StockRequest]).expired_count == len(seconds)


def test_lateness_percentiles_over_the_recent_expiries(driver):
    _expire_late_by(driver, *range(1, 101))  # 1 s to 100 s late
    lateness = current_status().lateness
    assert lateness.count == 100
    assert lateness.window_seconds == 3600
    assert 50 <= lateness.p50_seconds < 55
    assert 99 <= lateness.p99_seconds < 104
    assert 100 <= lateness.max_seconds < 105


def test_lateness_leaves_out_old_and_forced_expiries(driver):
    _expire_late_by(driver, 5)
    old = AssignmentEvent.objects.get(kind="expired")
    AssignmentEvent.objects.filter(pk=old.pk).update(
        created_at=deadline_in(-7200), deadline=deadline_in(-7300)
    )
    forced = offered_requests(driver, 1)[0]
    forced.expire(force=True)  # ended before its deadline: not late
    assert current_status().lateness.count == 0
    _expire_late_by(driver, 7)
    lateness = current_status().lateness
    assert lateness.count == 1 and 7 <= lateness.max_seconds < 12


def test_lateness_reads_only_the_most_recent_events(driver):
    _expire_late_by(driver, 40)
    _expire_late_by(driver, 2)  # two events: the offer and its expiry
    now = current_status().checked_at
    assert lateness_status(now).count == 2
    only_last_two = lateness_status(now, sample=2)
    assert only_last_two.count == 1 and only_last_two.max_seconds < 10
    # Fewer events than the sample: every one is read.
    assert lateness_status(now, sample=1_000_000).count == 2


def test_as_dict_is_json(driver):
    offered_requests(driver, 1)
    sweep()
    data = json.loads(json.dumps(current_status().as_dict()))
    assert set(data) == {
        "checked_at",
        "sweep_interval_seconds",
        "models",
        "outbox",
        "lateness",
        "sweeper",
    }
    assert data["outbox"] == {
        "backlog": 1,
        "oldest_pending_age_seconds": data["outbox"]["oldest_pending_age_seconds"],
        "dead_letters": 0,
    }
    stock = next(m for m in data["models"] if m["model"] == "testapp.StockRequest")
    assert stock["open_offers"] == 1 and stock["last_swept_at"].startswith("20")
    assert data["sweeper"]["last_run_at"] is not None


def test_an_invalid_interval_is_reported_as_none(settings):
    settings.ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = "soon"
    assert current_status().sweep_interval_seconds is None


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.0
    assert percentile(values, 99) == 10.0
    assert percentile(values, 0) == 1.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


# -- the plans on PostgreSQL ---------------------------------------------------

ROWS = 100_000


def _fill(driver):
    """100,000 delivered events, a few pending; 100,000 rows, 1,000 offered."""
    events = AssignmentEvent._meta.db_table
    table = StockRequest._meta.db_table
    content_type = ContentType.objects.get_for_model(StockRequest).pk
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} (content_type_id, object_pk, attempt, kind, "
            "deadline, reason, created_at, delivery_state, delivery_attempts, "
            "next_attempt_at, delivered_at, last_error) "
            "SELECT %s, g::text, 1, 'expired', now() - interval '1 minute', '', "
            "now() - interval '1 second' * (%s - g), "
            "CASE WHEN g %% 1000 = 0 THEN 'pending' ELSE 'delivered' END, 1, "
            "CASE WHEN g %% 1000 = 0 THEN now() END, "
            "CASE WHEN g %% 1000 = 0 THEN NULL ELSE now() END, '' "
            "FROM generate_series(1, %s) AS g",
            [content_type, ROWS, ROWS],
        )
        cursor.execute(
            f"INSERT INTO {table} (status, assignment_attempt, note) "
            "SELECT 'PENDING', 1, '' FROM generate_series(1, %s)",
            [ROWS - 1000],
        )
        cursor.execute(
            f"INSERT INTO {table} (status, assignment_attempt, note, target_driver_id, "
            "assignment_started_at, assignment_expires_at) "
            "SELECT 'ASSIGNING', 1, '', %s, now(), now() + interval '1 hour' * g "
            "FROM generate_series(1, 1000) AS g",
            [driver.pk],
        )
        cursor.execute(f"ANALYZE {events}")
        cursor.execute(f"ANALYZE {table}")


def _plans(sql, params):
    """EXPLAIN with the values, and the generic plan bound parameters get."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        custom = "\n".join(row[0] for row in cursor.fetchall())
        if not params:
            return custom, custom
        numbered = iter(range(1, len(params) + 1))
        prepared = re.sub("%s", lambda _: f"${next(numbered)}", sql)
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE status_query AS {prepared}")
        try:
            placeholders = ", ".join(["%s"] * len(params))
            cursor.execute(f"EXPLAIN EXECUTE status_query({placeholders})", params)
            generic = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE status_query")
            cursor.execute("RESET plan_cache_mode")
    return custom, generic


@pytest.mark.postgresql
def test_no_status_query_scans_the_events_or_a_model_table(driver):
    _fill(driver)
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        status = current_status([StockRequest])
    assert status.outbox.backlog == ROWS // 1000
    assert status.models[0].open_offers == 1000
    big = (AssignmentEvent._meta.db_table, StockRequest._meta.db_table)
    checked = 0
    for sql, params in statements:
        if not any(table in sql for table in big):
            continue
        for plan in _plans(sql, list(params or ())):
            for table in big:
                assert f"Seq Scan on {table}" not in plan, f"{sql}\n{plan}"
        checked += 1
    assert checked >= 6  # open, due, oldest; backlog, dead; lateness
