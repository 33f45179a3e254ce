"""Withdraw and extend an open offer: effects, refusals, pinning, signals, re-arming.

Each test runs on the database the suite runs on (SQLite by default; run them
with ``--database postgresql`` and ``--database mysql`` for the server
backends). Refusals are asserted by class and HTTP status, as consumers map
them to responses.
"""

from __future__ import annotations

import math
import threading
from datetime import timedelta
from functools import partial

import pytest
from django.db import connection, transaction
from django.test import override_settings

from django_assignment_timeout import lifecycle, signals
from django_assignment_timeout.exceptions import (
    AlreadyTaken,
    AssignmentNotFound,
    InvalidArgument,
    NoActiveOffer,
    OfferExpired,
)
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.schedulers.base import BaseScheduler
from django_assignment_timeout.sweep import next_deadline, sweep
from django_assignment_timeout.testing import deliver, make_due
from tests.system.invariants import violations
from tests.test_races import WAIT, Worker, wait_for_lock_waiter
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db

LABEL = "testapp.StockRequest"


def kinds(row):
    return [(e.kind, e.attempt, e.sequence) for e in row.assignment_events()]


def stored(row):
    """(status, assignee id, deadline, attempt) as stored now."""
    row.refresh_from_db()
    return (
        row.status,
        row.target_driver_id,
        row.assignment_expires_at,
        row.assignment_attempt,
    )


class RecordingScheduler(BaseScheduler):
    """A scheduler backend that only records the triggers it is given."""

    calls: list[tuple] = []

    def schedule_expiry(self, model, pk, attempt, deadline):
        self.calls.append(("expiry", model, pk, attempt, deadline))

    def schedule_delivery(self):
        self.calls.append(("delivery",))


@pytest.fixture
def scheduler():
    RecordingScheduler.calls = []
    backend = {"BACKEND": f"{__name__}.RecordingScheduler"}
    with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=backend):
        yield RecordingScheduler.calls


@pytest.fixture
def record():
    """record(signal) -> the list of the kwargs it is sent with."""
    connected = []

    def connect(signal):
        calls = []

        def receiver(**kwargs):
            kwargs.pop("signal")
            calls.append(kwargs)

        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
        return calls

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


# -- withdraw ------------------------------------------------------------------


def test_withdraw_ends_the_offer_before_its_deadline(stock_request, driver):
    offered = stock_request.offer(driver, assignment_mode="MANUAL")
    event = stock_request.withdraw(reason="customer cancelled")
    assert (event.kind, event.attempt, event.assignee_pk, event.reason) == (
        "withdrawn",
        1,
        str(driver.pk),
        "customer cancelled",
    )
    assert event.deadline == offered.deadline  # the deadline it cut short
    assert event.created_at < offered.deadline
    # Refreshed by the call: pending, the offer's fields cleared.
    assert (stock_request.status, stock_request.target_driver) == ("PENDING", None)
    assert stock_request.assignment_mode is None
    assert stock_request.assignment_expires_at is None
    assert kinds(stock_request) == [("offered", 1, 0), ("withdrawn", 1, 0)]
    # It can be offered again at once, as the next attempt.
    assert stock_request.offer(driver).attempt == 2
    assert violations(StockRequest) == []


def test_withdraw_from_the_manager_and_the_function(driver):
    a, b = StockRequest.objects.create(), StockRequest.objects.create()
    a.offer(driver)
    b.offer(driver)
    assert StockRequest.objects.withdraw(a.pk).kind == "withdrawn"
    assert lifecycle.withdraw(StockRequest, str(b.pk), attempt="1").reason == ""
    assert stored(a)[0] == stored(b)[0] == "PENDING"


def test_withdraw_works_on_a_uuid_key_and_clears_the_declared_fields(ticket, user):
    ticket.offer(user, queue="night")
    event = Ticket.objects.withdraw(str(ticket.pk).upper())
    assert (event.object_pk, event.assignee_pk) == (str(ticket.pk), str(user.pk))
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignee, ticket.queue) == (0, None, "")


def test_withdraw_refusals(stock_request, driver, other_driver):
    with pytest.raises(NoActiveOffer) as err:
        stock_request.withdraw()  # pending: nothing to withdraw
    assert err.value.http_status == 409
    stock_request.offer(driver)
    stock_request.withdraw()
    with pytest.raises(NoActiveOffer):
        stock_request.withdraw()  # once only
    stock_request.offer(other_driver)
    stock_request.accept(other_driver)
    with pytest.raises(AlreadyTaken) as err:
        stock_request.withdraw()
    assert err.value.http_status == 409
    with pytest.raises(AssignmentNotFound) as err:
        StockRequest.objects.withdraw(10**9)
    assert err.value.http_status == 404
    assert AssignmentEvent.objects.filter(kind="withdrawn").count() == 1


def test_withdraw_pinned_to_an_attempt_never_ends_another(stock_request, driver):
    stock_request.offer(driver)
    with pytest.raises(NoActiveOffer):
        stock_request.withdraw(attempt=2)  # no such offer yet
    stock_request.withdraw(attempt=1)
    stock_request.offer(driver)
    with pytest.raises(NoActiveOffer):
        stock_request.withdraw(attempt=1)  # a stale click on the old offer
    assert stored(stock_request)[0::3] == ("ASSIGNING", 2)
    assert stock_request.withdraw(attempt=2).attempt == 2


def test_a_due_offer_can_still_be_withdrawn(stock_request, driver):
    # A withdrawal waits for no deadline; the unswept offer ends once.
    stock_request.offer(driver)
    make_due(StockRequest)
    assert stock_request.withdraw().kind == "withdrawn"
    assert sweep().expired_count == 0
    assert kinds(stock_request) == [("offered", 1, 0), ("withdrawn", 1, 0)]


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"reason": 5}, "reason"),
        ({"reason": None}, "reason"),
        ({"attempt": "first"}, "attempt"),
        ({"attempt": 0}, "attempt"),
    ],
)
def test_withdraw_bad_arguments_write_nothing(stock_request, driver, arguments, name):
    stock_request.offer(driver)
    with pytest.raises(InvalidArgument) as err:
        stock_request.withdraw(**arguments)
    assert (err.value.argument, err.value.http_status) == (name, 400)
    with pytest.raises(InvalidArgument) as err:
        StockRequest.objects.withdraw("not a key")
    assert err.value.argument == "pk"
    assert stored(stock_request)[0] == "ASSIGNING"
    assert kinds(stock_request) == [("offered", 1, 0)]


def test_a_late_answer_to_a_withdrawn_offer_is_told_so(stock_request, driver):
    stock_request.offer(driver)
    stock_request.withdraw()
    with pytest.raises(OfferExpired) as err:
        stock_request.accept(driver)
    assert err.value.http_status == 410
    assert "withdrawn" in str(err.value)
    with pytest.raises(OfferExpired):
        stock_request.reject(driver, attempt=1)


def test_withdraw_signal_after_commit_then_delivery(
    record, scheduler, django_capture_on_commit_callbacks, stock_request, driver
):
    withdrawn = record(signals.assignment_withdrawn)
    expired = record(signals.assignment_expired)
    stock_request.offer(driver)
    scheduler.clear()
    with django_capture_on_commit_callbacks(execute=True):
        event = stock_request.withdraw(reason="reassigned")
        assert withdrawn == []  # not before the commit
    assert withdrawn == [
        {
            "sender": StockRequest,
            "pk": stock_request.pk,
            "attempt": 1,
            "assignee_pk": driver.pk,
            "reason": "reassigned",
            "event": event,
        }
    ]
    assert expired == []  # a withdrawal is not an expiry
    assert scheduler == [("delivery",)]


def test_withdrawn_offer_tells_the_assignee(stock_request, driver):
    stock_request.offer(driver)
    stock_request.withdraw()
    # The offer ended before the relay ran: only its ending is sent.
    (ended,) = deliver()
    assert (ended.title, ended.recipients) == ("Offer withdrawn", (driver,))
    assert ended.ends_offer
    assert ended.body == f"The offer of {stock_request} was withdrawn."


# -- extend --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "seconds"), [(60, 60), (90.5, 90.5), (timedelta(minutes=2), 120)]
)
def test_extend_moves_the_deadline_by_exactly_by(stock_request, driver, by, seconds):
    offered = stock_request.offer(driver)
    started = stock_request.assignment_started_at
    event = stock_request.extend(by=by)
    assert (event.kind, event.attempt, event.sequence) == ("extended", 1, 1)
    assert event.assignee_pk == str(driver.pk)
    assert event.deadline == offered.deadline + timedelta(seconds=seconds)
    # Refreshed by the call; the offer itself is unchanged.
    assert stock_request.assignment_expires_at == event.deadline
    assert stock_request.assignment_started_at == started
    assert (stock_request.status, stock_request.target_driver) == ("ASSIGNING", driver)


def test_each_extension_of_an_offer_is_numbered(stock_request, driver):
    offered = stock_request.offer(driver)
    first = StockRequest.objects.extend(stock_request.pk, by=60)
    second = lifecycle.extend(StockRequest, str(stock_request.pk), by=30, attempt="1")
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.deadline == offered.deadline + timedelta(seconds=90)
    stock_request.withdraw()
    stock_request.offer(driver)
    # A new offer counts its extensions from 1 again.
    assert stock_request.extend(by=60).sequence == 1
    assert kinds(stock_request) == [
        ("offered", 1, 0),
        ("extended", 1, 1),
        ("extended", 1, 2),
        ("withdrawn", 1, 0),
        ("offered", 2, 0),
        ("extended", 2, 1),
    ]


def test_an_extended_offer_can_be_accepted_past_its_first_deadline(
    stock_request, driver
):
    # The original deadline passes (moved into the past, as its event says),
    # but the extension's is still ahead: the accept is on time.
    stock_request.offer(driver, timeout=30)
    stock_request.extend(by=600)
    StockRequest.objects.filter(pk=stock_request.pk).update(
        assignment_expires_at=stock_request.assignment_expires_at
        - timedelta(seconds=60)
    )
    stock_request.assignment_events().filter(kind="offered").update(
        deadline=stock_request.assignment_started_at
    )
    assert stock_request.accept(driver).kind == "accepted"
    assert violations(StockRequest) == []


def test_extend_works_on_a_uuid_key(ticket, user):
    offered = ticket.offer(user)
    event = Ticket.objects.extend(str(ticket.pk).upper(), by=45)
    assert (event.object_pk, event.sequence) == (str(ticket.pk), 1)
    assert event.deadline == offered.deadline + timedelta(seconds=45)


def test_a_due_offer_is_expired_not_extended(
    record, django_capture_on_commit_callbacks, stock_request, driver
):
    expired = record(signals.assignment_expired)
    stock_request.offer(driver)
    make_due(StockRequest)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(OfferExpired) as err,
    ):
        stock_request.extend(by=300)
    assert err.value.http_status == 410
    # Expired on the spot (lazy expiry), so the dispatcher hears of it now.
    assert stored(stock_request)[0] == "PENDING"
    assert kinds(stock_request) == [("offered", 1, 0), ("expired", 1, 0)]
    assert [o.attempt for call in expired for o in call["expired"]] == [1]
    with pytest.raises(NoActiveOffer):
        stock_request.extend(by=300)


def test_extend_refusals(stock_request, driver):
    with pytest.raises(NoActiveOffer) as err:
        stock_request.extend(by=60)
    assert err.value.http_status == 409
    stock_request.offer(driver)
    stock_request.accept(driver)
    with pytest.raises(AlreadyTaken):
        stock_request.extend(by=60)
    with pytest.raises(AssignmentNotFound):
        StockRequest.objects.extend(10**9, by=60)
    assert not AssignmentEvent.objects.filter(kind="extended").exists()


def test_extend_pinned_to_an_attempt_never_moves_another(stock_request, driver):
    stock_request.offer(driver)
    stock_request.withdraw()
    stock_request.offer(driver)
    deadline = stored(stock_request)[2]
    with pytest.raises(NoActiveOffer):
        stock_request.extend(by=60, attempt=1)  # the ended offer
    with pytest.raises(NoActiveOffer):
        stock_request.extend(by=60, attempt=3)  # not made yet
    assert stored(stock_request)[2] == deadline
    # A due offer pinned to another attempt is left to the sweep.
    make_due(StockRequest)
    with pytest.raises(NoActiveOffer):
        stock_request.extend(by=60, attempt=1)
    assert stored(stock_request)[0] == "ASSIGNING"


@pytest.mark.parametrize(
    "by",
    [0, -5, "60", None, True, math.nan, math.inf, timedelta(0), [60], 10**12],
)
def test_extend_bad_by_writes_nothing(stock_request, driver, by):
    stock_request.offer(driver)
    deadline = stored(stock_request)[2]
    with pytest.raises(InvalidArgument) as err:
        stock_request.extend(by=by)
    assert (err.value.argument, err.value.http_status) == ("by", 400)
    assert stored(stock_request)[2] == deadline
    assert kinds(stock_request) == [("offered", 1, 0)]


def test_extend_bad_key_or_attempt(stock_request, driver):
    stock_request.offer(driver)
    with pytest.raises(InvalidArgument) as err:
        StockRequest.objects.extend("not a key", by=60)
    assert err.value.argument == "pk"
    with pytest.raises(InvalidArgument) as err:
        stock_request.extend(by=60, attempt="latest")
    assert err.value.argument == "attempt"


def test_extend_signal_and_rearm_after_commit(
    record, scheduler, django_capture_on_commit_callbacks, stock_request, driver
):
    extended = record(signals.assignment_extended)
    stock_request.offer(driver)
    scheduler.clear()
    with django_capture_on_commit_callbacks(execute=True):
        event = stock_request.extend(by=120)
        assert extended == [] and scheduler == []  # not before the commit
    assert extended == [
        {
            "sender": StockRequest,
            "pk": stock_request.pk,
            "attempt": 1,
            "assignee_pk": driver.pk,
            "deadline": event.deadline,
            "event": event,
        }
    ]
    assert scheduler == [
        ("expiry", StockRequest, stock_request.pk, 1, event.deadline),
        ("delivery",),
    ]


def test_no_rearm_when_the_extension_rolls_back(
    record, scheduler, django_capture_on_commit_callbacks, stock_request, driver
):
    extended = record(signals.assignment_extended)
    deadline = stock_request.offer(driver).deadline
    scheduler.clear()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        stock_request.extend(by=120)
        1 / 0  # noqa: B018 - the caller's transaction fails after the extension
    assert extended == [] and scheduler == []
    assert stored(stock_request)[2] == deadline


def test_the_trigger_armed_for_the_old_deadline_is_harmless(stock_request, driver):
    # The precise job (every backend's, and what the command's loop relies
    # on through next_deadline) re-checks on the database clock: the old
    # deadline's trigger finds the offer not due, and says when it will be.
    stock_request.offer(driver, timeout=30)
    stock_request.extend(by=600)
    outcome = jobs.expire_offer(LABEL, stock_request.pk, 1)
    assert (outcome["expired"], outcome["reason"]) == (False, "offer_not_due")
    assert 600 < outcome["retry_in"] <= 630
    assert sweep().expired_count == 0
    assert 600 < next_deadline([StockRequest]) <= 630
    assert stored(stock_request)[0] == "ASSIGNING"
    # At the new deadline the offer expires as usual, once.
    make_due(StockRequest)
    assert jobs.expire_offer(LABEL, stock_request.pk, 1)["expired"] is True
    assert kinds(stock_request)[-1] == ("expired", 1, 0)


def test_extension_tells_the_assignee_while_the_offer_is_open(stock_request, driver):
    stock_request.offer(driver, timeout=60)
    deliver()
    stock_request.extend(by=240)
    (sent,) = deliver()
    assert (sent.title, sent.recipients) == ("Offer extended", (driver,))
    assert sent.body == f"5 more minutes to accept {stock_request}."
    assert sent.expires_at == stored(stock_request)[2]
    assert not sent.ends_offer
    # An extension the relay reaches after the offer ended is not announced.
    stock_request.extend(by=60)
    stock_request.withdraw()
    assert [n.title for n in deliver()] == ["Offer withdrawn"]


# -- concurrency ---------------------------------------------------------------


@pytest.mark.not_sqlite
@pytest.mark.django_db(transaction=True)
def test_concurrent_extensions_queue_and_count_on(driver):
    row = StockRequest.objects.create()
    offered = row.offer(driver)
    holding, release = threading.Event(), threading.Event()

    def extend_and_hold():
        with transaction.atomic():
            event = lifecycle.extend(StockRequest, row.pk, by=60)
            holding.set()
            release.wait(WAIT)
        return event

    holder = Worker(extend_and_hold)
    holder.start()
    assert holding.wait(WAIT)
    second = Worker(partial(lifecycle.extend, StockRequest, row.pk, by=60))
    second.start()
    try:
        wait_for_lock_waiter(second)  # it queues on the row, it does not decide
    finally:
        release.set()
    first, later = holder.outcome(), second.outcome()
    assert (first.sequence, later.sequence) == (1, 2)
    assert later.deadline == offered.deadline + timedelta(seconds=120)
    assert stored(row)[2] == later.deadline


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)
def test_an_extension_counts_on_from_the_latest_commit_not_an_old_snapshot(driver):
    row = StockRequest.objects.create()
    row.offer(driver)
    with transaction.atomic(), connection.cursor() as cursor:
        # A project on InnoDB's own default: the first plain read fixes the
        # transaction's snapshot, before another connection extends.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert AssignmentEvent.objects.filter(kind="extended").count() == 0
        other = Worker(partial(lifecycle.extend, StockRequest, row.pk, by=60))
        other.start()
        assert other.outcome().sequence == 1
        assert lifecycle.extend(StockRequest, row.pk, by=60).sequence == 2
