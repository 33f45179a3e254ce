"""The sweeper's heartbeat: written by every sweep, throttled, never failing it."""

from __future__ import annotations

import logging
import os
import socket

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_assignment_timeout import heartbeat
from django_assignment_timeout.clock import database_now, deadline_in
from django_assignment_timeout.heartbeat import (
    SweeperHeartbeat,
    forget_beats,
    record_sweep,
    throttle_seconds,
)
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db


def _beats():
    return dict(SweeperHeartbeat.objects.values_list("name", "last_run_at"))


def test_every_sweep_stamps_each_model_it_swept_on_the_database_clock():
    before = database_now("default")
    sweep()
    after = database_now("default")
    beats = _beats()
    assert set(beats) == {
        "testapp.StockRequest",
        "testapp.Ticket",
        "testapp.Job",
        "testapp.Load",
    }
    assert all(before <= stamp <= after for stamp in beats.values())
    row = SweeperHeartbeat.objects.get(name="testapp.Ticket")
    assert (row.host, row.pid) == (socket.gethostname(), os.getpid())
    assert str(row).startswith("testapp.Ticket swept at ")


def test_a_sweep_of_some_models_stamps_only_those():
    sweep([Ticket])
    assert set(_beats()) == {"testapp.Ticket"}


def test_a_later_beat_moves_the_same_row_forward():
    record_sweep(["testapp.Ticket"])
    SweeperHeartbeat.objects.update(
        host="elsewhere", pid=1, last_run_at=deadline_in(-3600)
    )
    forget_beats()  # as another process would, or this one an interval later
    before = database_now("default")
    assert record_sweep(["testapp.Ticket"]) == 1
    row = SweeperHeartbeat.objects.get()
    assert before <= row.last_run_at <= database_now("default")
    assert (row.host, row.pid) == (socket.gethostname(), os.getpid())


def test_a_loop_that_wakes_often_writes_once_per_throttle_gap(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock[0])
    with override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=20):
        assert throttle_seconds() == 5.0
        assert record_sweep(["testapp.StockRequest", "testapp.Ticket"]) == 2
        with CaptureQueriesContext(connection) as queries:
            clock[0] += 4.9
            assert record_sweep(["testapp.StockRequest", "testapp.Ticket"]) == 0
            sweep([StockRequest])  # a sweep in the same process is throttled too
        assert not [q for q in queries if "heartbeat" in q["sql"]]
        clock[0] += 0.1
        with CaptureQueriesContext(connection) as queries:
            assert record_sweep(["testapp.StockRequest", "testapp.Ticket"]) == 2
        # One upsert for both names (plus the savepoint around it).
        writes = [q for q in queries if "heartbeat" in q["sql"]]
        assert len(writes) == 1


def test_the_throttle_gap_is_at_least_a_second():
    with override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=2):
        assert throttle_seconds() == 1.0
    with override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=60):
        assert throttle_seconds() == 15.0
    with override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL="soon"):
        assert throttle_seconds() == 15.0  # check E011 reports it; sweeps go on


@pytest.fixture
def missing_table():
    """The heartbeat table dropped, as before ``migrate`` runs 0002."""
    with connection.schema_editor() as editor:
        editor.delete_model(SweeperHeartbeat)
    yield
    with connection.schema_editor() as editor:
        editor.create_model(SweeperHeartbeat)


@pytest.mark.django_db(transaction=True)
def test_a_failing_heartbeat_is_logged_and_never_fails_the_sweep(
    missing_table, driver, caplog
):
    offered_requests(driver, 2)
    make_due(StockRequest)
    with caplog.at_level(logging.ERROR, logger="django_assignment_timeout.heartbeat"):
        result = sweep([StockRequest])
    assert result.expired_count == 2
    assert "Could not record the sweeper heartbeat of testapp.StockRequest" in (
        caplog.text
    )
    # Throttled like a success: a broken table is not logged on every wake.
    caplog.clear()
    sweep([StockRequest])
    assert not caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_failure_inside_a_callers_transaction_leaves_it_usable(missing_table, caplog):
    with transaction.atomic():
        assert record_sweep(["testapp.Ticket"]) == 0
        # The savepoint rolled back alone: the transaction goes on.
        assert StockRequest.objects.count() == 0
    assert "Could not record the sweeper heartbeat" in caplog.text
