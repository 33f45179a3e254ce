"""Reminders: one ``reminded`` event per attempt, within ``remind_before`` of its deadline.

Written by :func:`.reminders.remind_due` (and the sweep after its expiry
batches) on the database clock, exactly once per attempt however many
sweepers run; notified only while that attempt is still the open offer; and
the ``--loop`` wakes for the moment a reminder falls due.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import override_settings

from django_assignment_timeout.checks.models import check_model
from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.notifications import collapse_key
from django_assignment_timeout.options import EXPIRES_AT
from django_assignment_timeout.reminders import next_reminder, remind_due
from django_assignment_timeout.sweep import driver as sweep_driver
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import deliver, make_due
from tests.support.polling import wait_for
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30  # seconds: a bound for threads, never reached when all is well


@pytest.fixture
def reminding(monkeypatch):
    """Give a test model ``AssignmentMeta.remind_before`` for one test."""

    def declare(model, seconds):
        monkeypatch.setattr(
            model.AssignmentMeta, "remind_before", seconds, raising=False
        )
        # options_for() caches the parsed options on the model: read them again.
        monkeypatch.setattr(model, "_assignment_options", None, raising=False)

    return declare


def ends_in(model, seconds, *pks):
    """Move the deadline of open offers (``pks``, else all) ``seconds`` ahead of now."""
    rows = model._base_manager.filter(**{f"{EXPIRES_AT}__isnull": False})
    if pks:
        rows = rows.filter(pk__in=pks)
    return rows.update(**{EXPIRES_AT: deadline_in(seconds)})


def reminded(row=None):
    events = AssignmentEvent.objects.filter(kind="reminded")
    if row is not None:
        events = events.filter(object_pk=str(row.pk))
    return list(events.order_by("id"))


@pytest.fixture(params=["stock_request", "ticket"])
def offered(request, reminding, driver, user):
    """An open offer of a 300 s timeout on an integer-keyed or a UUID-keyed model."""
    if request.param == "stock_request":
        row, assignee = StockRequest.objects.create(), driver
    else:
        row, assignee = Ticket.objects.create(), user
    reminding(type(row), 60)
    row.offer(assignee, timeout=300)
    row.refresh_from_db()
    return row, assignee


# -- the pass ------------------------------------------------------------------


def test_an_offer_not_yet_within_the_window_is_not_reminded(offered):
    row, _ = offered
    assert remind_due(type(row)) == 0
    assert reminded() == []


def test_an_offer_within_the_window_is_reminded_once_per_attempt(offered):
    row, assignee = offered
    ends_in(type(row), 30)
    row.refresh_from_db()
    assert remind_due(type(row)) == 1
    assert remind_due(type(row)) == 0  # a second pass writes nothing
    assert remind_due() == 0  # nor does a pass over every model
    (event,) = reminded(row)
    assert event.attempt == row.assignment_attempt
    assert event.sequence == 0
    assert event.assignee_pk == str(assignee.pk)
    assert event.deadline == row.assignment_expires_at
    # Written on the database clock, within the window.
    assert timedelta(0) < event.deadline - event.created_at <= timedelta(seconds=60)


def test_a_new_attempt_is_reminded_again(offered):
    row, assignee = offered
    ends_in(type(row), 30)
    assert remind_due(type(row)) == 1
    make_due(type(row))
    sweep([type(row)])
    row.refresh_from_db()
    row.offer(assignee, timeout=30)
    assert remind_due(type(row)) == 1
    assert [e.attempt for e in reminded(row)] == [1, 2]


def test_no_reminder_once_the_offer_ended(reminding, driver, other_driver):
    reminding(StockRequest, 60)
    accepted, past, rejected = (StockRequest.objects.create() for _ in range(3))
    for row in (accepted, past, rejected):
        row.offer(driver, timeout=30)
    accepted.accept(driver)
    rejected.reject(driver)
    # Past its deadline but not yet swept: lazily expired, so not reminded.
    make_due(StockRequest, past.pk)
    assert remind_due(StockRequest) == 0
    assert reminded() == []


def test_a_model_without_remind_before_is_skipped(driver, stock_request):
    stock_request.offer(driver, timeout=30)
    assert remind_due(StockRequest) == 0
    assert remind_due() == 0
    assert next_reminder() is None
    assert reminded() == []


def test_batches_are_bounded_and_all_are_written(reminding, driver):
    reminding(StockRequest, 60)
    rows = [StockRequest.objects.create() for _ in range(7)]
    for row in rows:
        row.offer(driver, timeout=30)
    assert remind_due(StockRequest, batch_size=3) == 7
    assert sorted(e.object_pk for e in reminded()) == sorted(str(r.pk) for r in rows)


def test_batch_size_must_be_positive():
    from django_assignment_timeout.exceptions import InvalidArgument

    with pytest.raises(InvalidArgument):
        remind_due(batch_size=0)


# -- concurrent sweepers -------------------------------------------------------


@pytest.mark.not_sqlite
@pytest.mark.parametrize("model", [StockRequest, Ticket], ids=["integer", "uuid"])
def test_concurrent_passes_write_one_reminder_per_attempt(
    reminding, model, driver, user
):
    reminding(model, 60)
    assignee = driver if model is StockRequest else user
    rows = [model.objects.create() for _ in range(40)]
    for row in rows:
        row.offer(assignee, timeout=30)
    start = threading.Barrier(4)
    outcomes, errors = [], []

    def sweeper():
        try:
            start.wait(WAIT)
            outcomes.append(sum(remind_due(model, batch_size=7) for _ in range(3)))
        except BaseException as err:
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    events = reminded()
    assert sorted(e.object_pk for e in events) == sorted(str(r.pk) for r in rows)
    if model is StockRequest:  # one statement a batch: each counts what it wrote
        assert sum(outcomes) == len(rows)


# -- the sweep -----------------------------------------------------------------


def test_the_sweep_reminds_after_expiring_and_triggers_delivery(
    reminding, monkeypatch, driver, other_driver
):
    reminding(StockRequest, 60)
    triggered = []
    monkeypatch.setattr(sweep_driver, "schedule_delivery", lambda: triggered.append(1))
    soon, due_row = StockRequest.objects.create(), StockRequest.objects.create()
    soon.offer(driver, timeout=30)
    due_row.offer(other_driver, timeout=30)
    make_due(StockRequest, due_row.pk)
    result = sweep()
    assert (result.expired_count, result.reminded_count) == (1, 1)
    assert [e.object_pk for e in reminded()] == [str(soon.pk)]
    assert triggered == [1]
    # Nothing new: no reminder, no trigger.
    assert sweep().reminded_count == 0
    assert triggered == [1]


def test_the_sweep_triggers_delivery_for_reminders_alone(
    reminding, monkeypatch, driver
):
    reminding(StockRequest, 60)
    triggered = []
    monkeypatch.setattr(sweep_driver, "schedule_delivery", lambda: triggered.append(1))
    StockRequest.objects.create().offer(driver, timeout=30)
    result = sweep()
    assert (result.expired_count, result.reminded_count) == (0, 1)
    assert triggered == [1]


def test_a_failing_reminder_pass_does_not_fail_the_sweep(
    reminding, monkeypatch, driver, caplog
):
    reminding(StockRequest, 60)

    def broken(*args, **kwargs):
        raise RuntimeError("the events table is gone")

    monkeypatch.setattr(sweep_driver, "remind_due", broken)
    row = StockRequest.objects.create()
    row.offer(driver, timeout=30)
    make_due(StockRequest)
    result = sweep()
    assert result.expired_count == 1
    assert "Could not write the reminders of testapp.StockRequest" in caplog.text


# -- the notification ----------------------------------------------------------


def test_a_reminder_is_an_offer_message_that_ends_with_the_offer(reminding, driver):
    reminding(StockRequest, 60)
    row = StockRequest.objects.create()
    row.offer(driver, timeout=30)
    remind_due()
    row.refresh_from_db()
    sent = [n for n in deliver() if n.title == "Offer ends soon"]
    assert len(sent) == 1
    (message,) = sent
    assert message.body == f"Less than 1 minute left to accept {row}."
    assert list(message.recipients) == [driver]
    assert message.expires_at == row.assignment_expires_at
    assert message.collapse_key == collapse_key(row, row.assignment_attempt)
    assert not message.ends_offer
    assert message.data["event"] == "reminded"


def test_the_minutes_left_are_rounded_up(reminding, driver):
    reminding(StockRequest, 180)
    row = StockRequest.objects.create()
    row.offer(driver, timeout=300)
    ends_in(StockRequest, 150)
    remind_due()
    (message,) = [n for n in deliver() if n.title == "Offer ends soon"]
    assert message.body == f"Less than 3 minutes left to accept {row}."


@pytest.mark.parametrize("ending", ["accept", "reject", "expire"])
def test_no_reminder_is_sent_once_the_offer_ended(reminding, driver, ending):
    reminding(StockRequest, 60)
    row = StockRequest.objects.create()
    row.offer(driver, timeout=30)
    assert remind_due() == 1
    # The offer ends before the relay reaches the reminder.
    if ending == "expire":
        make_due(StockRequest)
        sweep()
    else:
        getattr(row, ending)(driver)
    titles = [n.title for n in deliver()]
    assert "Offer ends soon" not in titles
    (event,) = reminded(row)
    event.refresh_from_db()
    assert event.delivery_state == "delivered"  # nothing to send is delivered


# -- when the loop wakes ---------------------------------------------------------


def test_next_reminder_is_read_on_the_database_clock(reminding, driver):
    reminding(StockRequest, 60)
    assert next_reminder() is None
    later = StockRequest.objects.create()
    later.offer(driver, timeout=300)
    assert 230 < next_reminder() <= 240
    soon = StockRequest.objects.create()
    soon.offer(driver, timeout=30)
    # Due since it entered the window (30 s ago, on the database clock).
    assert -31 < next_reminder() < -29
    remind_due()
    assert 230 < next_reminder() <= 240


def test_the_loop_wakes_for_a_reminder(reminding, driver):
    reminding(StockRequest, 60)
    row = StockRequest.objects.create()
    # The deadline is 62 s away and the interval 30 s: only a loop that
    # sleeps until the reminder's moment (2 s from now) writes it in time.
    row.offer(driver, timeout=62)
    offered_at = time.monotonic()
    out = StringIO()
    took = []

    def watch():
        try:
            wait_for(lambda: reminded(row), 8, "the reminder")
            took.append(time.monotonic() - offered_at)
        finally:
            connections.close_all()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # The probe cadence is the interval's: no probe explains an early wake.
    with override_settings(ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL=30):
        call_command("expire_assignments", "--loop", "--interval", "30", stdout=out)
    watcher.join(WAIT)
    assert took, out.getvalue()
    # Not before the window opened (the first tick found nothing due).
    assert 1.5 < took[0] < 8
    assert "reminded 1" in out.getvalue()


# -- checks ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["60", 0, -5, True, float("nan"), timedelta(0), [60]])
def test_e097_remind_before_must_be_positive_seconds(reminding, value):
    reminding(StockRequest, value)
    ids = [e.id for e in check_model(StockRequest)]
    assert ids == ["assignment_timeout.E097"]


@pytest.mark.parametrize("value", [300, timedelta(minutes=6), 3600])
def test_e098_remind_before_must_be_shorter_than_the_timeout(reminding, value):
    reminding(StockRequest, value)  # its timeout: 300 s
    (error,) = check_model(StockRequest)
    assert error.id == "assignment_timeout.E098"
    assert "300-second timeout" in error.msg


@pytest.mark.parametrize("value", [None, 60, 299.5, timedelta(minutes=1)])
def test_a_reminder_before_the_timeout_passes_the_checks(reminding, value):
    reminding(StockRequest, value)
    assert check_model(StockRequest) == []


def test_a_callable_timeout_is_not_compared(reminding, monkeypatch):
    reminding(StockRequest, 600)
    monkeypatch.setattr(StockRequest.AssignmentMeta, "timeout", lambda row, who: 300)
    assert check_model(StockRequest) == []
