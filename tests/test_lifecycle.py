"""Offer / accept / reject / expire: effects, typed refusals, arguments, signals.

Each refusal is asserted by its class and its HTTP status, since consumers map
the exceptions to responses.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.test import override_settings

from django_assignment_timeout import signals
from django_assignment_timeout.exceptions import (
    AlreadyOffered,
    AlreadyTaken,
    AssignmentNotFound,
    ConfigurationError,
    InvalidArgument,
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
    OfferNotDue,
)
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.options import options_for
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, StockRequest, Ticket

pytestmark = pytest.mark.django_db


def offer_seconds(row):
    row.refresh_from_db()
    return (row.assignment_expires_at - row.assignment_started_at).total_seconds()


def kinds(row):
    return list(row.assignment_events().values_list("kind", "attempt"))


def with_timeout(monkeypatch, model, timeout):
    """Give ``model`` another AssignmentMeta.timeout for one test."""
    monkeypatch.setattr(
        model,
        "_assignment_options",
        dataclasses.replace(options_for(model), timeout=timeout),
    )


# -- offer ---------------------------------------------------------------------


def test_offer_sets_the_offer_on_the_database_clock(stock_request, driver):
    event = stock_request.offer(driver, assignment_mode="MANUAL")
    assert stock_request.status == "ASSIGNING"
    assert stock_request.target_driver == driver
    assert stock_request.assignment_mode == "MANUAL"
    assert stock_request.assignment_attempt == 1
    assert offer_seconds(stock_request) == 300  # DRIVER_ASSIGNMENT_TIMEOUT_SECONDS
    assert (event.kind, event.attempt, event.assignee_pk) == (
        "offered",
        1,
        str(driver.pk),
    )
    assert event.deadline == stock_request.assignment_expires_at
    assert stock_request.assignment_is_offered
    assert stock_request.assignment_deadline == event.deadline


def test_offer_refused_unless_pending(stock_request, driver, other_driver):
    stock_request.offer(driver)
    with pytest.raises(AlreadyOffered) as err:
        stock_request.offer(other_driver)
    assert err.value.http_status == 409
    stock_request.accept(driver)
    with pytest.raises(AlreadyTaken):
        stock_request.offer(other_driver)
    in_transit = StockRequest.objects.create(status="IN_TRANSIT")
    with pytest.raises(AlreadyOffered, match="IN_TRANSIT"):
        in_transit.offer(driver)
    with pytest.raises(AssignmentNotFound) as err:
        StockRequest.objects.offer(10**9, driver)
    assert err.value.http_status == 404


def test_per_offer_timeout_overrides_the_model(stock_request, ticket, driver, user):
    stock_request.offer(driver, timeout=timedelta(seconds=10))
    assert offer_seconds(stock_request) == 10
    ticket.offer(user, timeout=2.5)
    assert offer_seconds(ticket) == 2.5


def test_timeout_from_a_number_a_setting_a_callable_and_the_default(
    monkeypatch, stock_request, ticket, driver, user
):
    ticket.offer(user)  # Ticket declares timeout = 120
    assert offer_seconds(ticket) == 120
    with override_settings(DRIVER_ASSIGNMENT_TIMEOUT_SECONDS="42"):  # from os.environ
        stock_request.offer(driver)
    assert offer_seconds(stock_request) == 42
    seen = []

    def per_driver(instance, assignee):
        seen.append((instance, assignee))
        return timedelta(minutes=1)

    with_timeout(monkeypatch, StockRequest, per_driver)
    other = StockRequest.objects.create()
    other.offer(driver)
    assert offer_seconds(other) == 60
    assert seen == [(other, driver)]
    with_timeout(monkeypatch, StockRequest, None)
    with override_settings(ASSIGNMENT_TIMEOUT_SECONDS=7):
        third = StockRequest.objects.create()
        third.offer(driver)
    assert offer_seconds(third) == 7


def test_a_broken_timeout_setting_is_a_configuration_error(
    monkeypatch, stock_request, driver
):
    with_timeout(monkeypatch, StockRequest, "NO_SUCH_SETTING")
    with pytest.raises(ConfigurationError, match="NO_SUCH_SETTING"):
        stock_request.offer(driver)
    with_timeout(monkeypatch, StockRequest, lambda instance, assignee: -1)
    with pytest.raises(ConfigurationError, match="positive"):
        stock_request.offer(driver)
    stock_request.refresh_from_db()
    assert stock_request.status == "PENDING"
    assert not AssignmentEvent.objects.exists()


@pytest.mark.parametrize(
    "timeout", [0, -5, "30", True, math.nan, math.inf, timedelta(0)]
)
def test_bad_per_offer_timeout(stock_request, driver, timeout):
    with pytest.raises(InvalidArgument):
        stock_request.offer(driver, timeout=timeout)


def test_bad_arguments_are_invalid_argument(stock_request, driver, user):
    unsaved = Driver(name="nobody")
    for assignee in (None, True, unsaved, user, "not-a-key"):
        with pytest.raises(InvalidArgument):
            stock_request.offer(assignee)
    for values in ({"status": "ASSIGNED"}, {"target_driver": driver}, {"nope": 1}):
        with pytest.raises(InvalidArgument):
            stock_request.offer(driver, **values)
    for field in ("assignment_attempt", "assignment_expires_at", "target_driver_id"):
        with pytest.raises(InvalidArgument):
            stock_request.offer(driver, **{field: 1})
    for pk in (None, "abc", True):
        with pytest.raises(InvalidArgument):
            StockRequest.objects.accept(pk, driver)
    with pytest.raises(InvalidArgument):
        Ticket.objects.expire("not-a-uuid")
    stock_request.offer(driver)
    with pytest.raises(InvalidArgument):
        stock_request.reject(driver, reason=None)
    for attempt in (0, -1, "1.0", 1.0, True):
        with pytest.raises(InvalidArgument):
            stock_request.accept(driver, attempt=attempt)
    with pytest.raises(InvalidArgument):
        stock_request.expire(attempt=0)
    stock_request.refresh_from_db()
    assert (stock_request.status, stock_request.assignment_attempt) == ("ASSIGNING", 1)
    assert InvalidArgument.__mro__.count(ValueError) == 1  # catchable as ValueError


# -- accept --------------------------------------------------------------------


def test_accept_takes_the_assignment(stock_request, driver):
    stock_request.offer(driver, assignment_mode="AUTO")
    event = stock_request.accept(driver)
    assert stock_request.status == "ASSIGNED"
    assert stock_request.target_driver == driver
    assert stock_request.assignment_expires_at is None
    assert stock_request.assignment_mode == "AUTO"  # kept: only an ended offer clears
    assert (event.kind, event.attempt, event.assignee_pk) == (
        "accepted",
        1,
        str(driver.pk),
    )
    offered = stock_request.assignment_events().get(kind="offered")
    assert event.created_at < offered.deadline


def test_accept_by_someone_else_is_not_offered_to_you(
    stock_request, driver, other_driver
):
    stock_request.offer(driver)
    with pytest.raises(NotOfferedToYou) as err:
        stock_request.accept(other_driver)
    assert err.value.http_status == 403
    with pytest.raises(NotOfferedToYou):
        stock_request.reject(other_driver)
    assert stock_request.status == "ASSIGNING"


def test_accept_after_someone_took_it_is_already_taken(
    stock_request, driver, other_driver
):
    stock_request.offer(driver)
    stock_request.accept(driver)
    with pytest.raises(AlreadyTaken) as err:
        stock_request.accept(other_driver)
    assert err.value.http_status == 409
    with pytest.raises(AlreadyTaken, match="already accepted"):
        stock_request.accept(driver)


def test_accept_without_an_offer_is_no_active_offer(stock_request, driver):
    with pytest.raises(NoActiveOffer) as err:
        stock_request.accept(driver)
    assert err.value.http_status == 409
    with pytest.raises(AssignmentNotFound):
        StockRequest.objects.accept(10**9, driver)


def test_lazy_expiry_a_due_offer_can_not_be_accepted_without_a_sweep(
    stock_request, driver
):
    stock_request.offer(driver, assignment_mode="MANUAL")
    make_due(StockRequest, stock_request.pk)
    with pytest.raises(OfferExpired) as err:
        stock_request.accept(driver)
    assert err.value.http_status == 410
    # Whoever notices a due offer ends it: the dispatcher is told at once.
    assert stock_request.status == "PENDING"
    assert stock_request.target_driver is None
    assert stock_request.assignment_mode is None
    assert kinds(stock_request) == [("offered", 1), ("expired", 1)]
    # Asked again after the expiry, the answer is still "expired", not "no offer".
    with pytest.raises(OfferExpired):
        stock_request.accept(driver)
    with pytest.raises(OfferExpired):
        stock_request.reject(driver)


def test_a_swept_offer_answers_expired(stock_request, driver, other_driver):
    stock_request.offer(driver)
    make_due(StockRequest)
    assert sweep().expired_count == 1
    with pytest.raises(OfferExpired):
        stock_request.accept(driver)
    with pytest.raises(NoActiveOffer):  # it was never offered to this driver
        stock_request.accept(other_driver)


def test_attempt_pinning(stock_request, driver):
    stock_request.offer(driver)
    stock_request.reject(driver)
    stock_request.offer(driver)
    assert stock_request.assignment_attempt == 2
    with pytest.raises(OfferExpired, match="newer offer"):
        stock_request.accept(driver, attempt=1)
    with pytest.raises(NoActiveOffer):
        stock_request.accept(driver, attempt=3)
    event = stock_request.accept(driver, attempt=2)
    assert event.attempt == 2


# -- reject --------------------------------------------------------------------


def test_reject_returns_to_pending_and_clears(ticket, user):
    ticket.offer(user, queue="night")
    event = ticket.reject(user, reason="off shift")
    assert (ticket.state, ticket.assignee, ticket.queue) == (0, None, "")
    assert ticket.assignment_started_at is None
    assert ticket.assignment_expires_at is None
    assert (event.kind, event.reason, event.assignee_pk) == (
        "rejected",
        "off shift",
        str(user.pk),
    )
    with pytest.raises(NoActiveOffer):
        ticket.reject(user)
    ticket.offer(user)  # pending again: a new attempt
    assert ticket.assignment_attempt == 2


# -- expire --------------------------------------------------------------------


def test_expire_one(stock_request, driver):
    stock_request.offer(driver, assignment_mode="MANUAL")
    with pytest.raises(OfferNotDue) as err:
        stock_request.expire()
    assert err.value.http_status == 409
    make_due(StockRequest)
    with pytest.raises(NoActiveOffer):
        stock_request.expire(attempt=2)
    event = stock_request.expire(attempt=1)
    assert (event.kind, event.attempt, event.assignee_pk) == (
        "expired",
        1,
        str(driver.pk),
    )
    assert (stock_request.status, stock_request.assignment_mode) == ("PENDING", None)
    with pytest.raises(NoActiveOffer):
        stock_request.expire()


def test_expire_force_withdraws_before_the_deadline(stock_request, driver):
    stock_request.offer(driver)
    stock_request.expire(force=True)
    assert stock_request.status == "PENDING"
    stock_request.offer(driver)
    stock_request.accept(driver)
    with pytest.raises(AlreadyTaken):
        stock_request.expire(force=True)
    with pytest.raises(AssignmentNotFound):
        StockRequest.objects.expire(10**9)


def test_queryset_api(driver, other_driver):
    a, b, c = (StockRequest.objects.create() for _ in range(3))
    StockRequest.objects.offer(a.pk, driver)
    StockRequest.objects.offer(b.pk, other_driver)
    make_due(StockRequest, b.pk)
    assert set(StockRequest.objects.pending()) == {c}
    assert set(StockRequest.objects.offered()) == {a, b}
    assert set(StockRequest.objects.due()) == {b}
    assert set(StockRequest.objects.offered_to(driver)) == {a}
    assert set(StockRequest.objects.offered_to(other_driver)) == set()  # due
    assert StockRequest.objects.expire_due().as_dict() == {"expired_count": 1}
    StockRequest.objects.accept(a.pk, driver, attempt=1)
    StockRequest.objects.offer(c.pk, driver)
    StockRequest.objects.reject(c.pk, driver, reason="no")
    StockRequest.objects.offer(c.pk, driver)
    StockRequest.objects.expire(c.pk, force=True)
    assert list(
        StockRequest.objects.values_list("status", flat=True).order_by("pk")
    ) == [
        "ASSIGNED",
        "PENDING",
        "PENDING",
    ]


# -- events, constraints -------------------------------------------------------


def test_history_is_one_query(
    django_assert_num_queries, stock_request, driver, other_driver
):
    stock_request.offer(driver)
    stock_request.reject(driver, reason="busy")
    stock_request.offer(other_driver)
    make_due(StockRequest)
    stock_request.expire()
    stock_request.offer(driver)
    stock_request.accept(driver)
    ContentType.objects.get_for_model(StockRequest)  # the (cached) type lookup
    with django_assert_num_queries(1):
        history = list(
            stock_request.assignment_events().values_list(
                "kind", "attempt", "assignee_pk"
            )
        )
    d, o = str(driver.pk), str(other_driver.pk)
    assert history == [
        ("offered", 1, d),
        ("rejected", 1, d),
        ("offered", 2, o),
        ("expired", 2, o),
        ("offered", 3, d),
        ("accepted", 3, d),
    ]


def test_check_constraint_rejects_a_deadline_without_an_offer(stock_request):
    with pytest.raises(IntegrityError), transaction.atomic():
        StockRequest.objects.filter(pk=stock_request.pk).update(
            assignment_expires_at=Now()
        )


def test_check_constraint_rejects_an_offer_without_a_deadline(stock_request):
    with pytest.raises(IntegrityError), transaction.atomic():
        StockRequest.objects.filter(pk=stock_request.pk).update(status="ASSIGNING")


def test_one_event_per_assignment_attempt_and_kind(stock_request, driver):
    stock_request.offer(driver)
    event = stock_request.assignment_events().get()
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignmentEvent.objects.create(
            content_type=event.content_type,
            object_pk=event.object_pk,
            attempt=1,
            kind="offered",
        )


def test_uuid_keys_are_recorded_uniformly(ticket, user):
    Ticket.objects.offer(str(ticket.pk).upper(), user)
    make_due(Ticket)
    sweep()
    assert set(ticket.assignment_events().values_list("object_pk", flat=True)) == {
        str(ticket.pk)
    }


# -- signals -------------------------------------------------------------------


class Recorder:
    def __init__(self, signal):
        self.calls = []
        signal.connect(self, weak=False)
        self.signal = signal

    def __call__(self, **kwargs):
        kwargs.pop("signal")
        self.calls.append(kwargs)


@pytest.fixture
def record():
    recorders = []

    def connect(signal):
        recorders.append(Recorder(signal))
        return recorders[-1]

    yield connect
    for recorder in recorders:
        recorder.signal.disconnect(recorder)


def test_signals_are_sent_after_commit_with_their_arguments(
    record, django_capture_on_commit_callbacks, stock_request, driver
):
    offered = record(signals.assignment_offered)
    accepted = record(signals.assignment_accepted)
    rejected = record(signals.assignment_rejected)
    expired = record(signals.assignment_expired)
    with django_capture_on_commit_callbacks(execute=True):
        event = stock_request.offer(driver)
        assert offered.calls == []  # not before the commit
    assert offered.calls == [
        {
            "sender": StockRequest,
            "pk": stock_request.pk,
            "attempt": 1,
            "assignee_pk": driver.pk,
            "deadline": stock_request.assignment_expires_at,
            "event": event,
        }
    ]
    with django_capture_on_commit_callbacks(execute=True):
        event = stock_request.reject(driver, reason="far")
    assert rejected.calls == [
        {
            "sender": StockRequest,
            "pk": stock_request.pk,
            "attempt": 1,
            "assignee_pk": driver.pk,
            "reason": "far",
            "event": event,
        }
    ]
    with django_capture_on_commit_callbacks(execute=True):
        stock_request.offer(driver)
        deadline = stock_request.assignment_expires_at
        make_due(StockRequest)
        stock_request.refresh_from_db()
        deadline = stock_request.assignment_expires_at
        stock_request.expire()
    assert expired.calls == [
        {
            "sender": StockRequest,
            "expired": [signals.ExpiredOffer(stock_request.pk, 2, driver.pk, deadline)],
        }
    ]
    with django_capture_on_commit_callbacks(execute=True):
        stock_request.offer(driver)
        event = stock_request.accept(driver)
    assert accepted.calls == [
        {
            "sender": StockRequest,
            "pk": stock_request.pk,
            "attempt": 3,
            "assignee_pk": driver.pk,
            "event": event,
        }
    ]


def test_no_signal_when_the_transaction_rolls_back(
    record, django_capture_on_commit_callbacks, stock_request, driver
):
    offered = record(signals.assignment_offered)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        stock_request.offer(driver)
        1 / 0  # noqa: B018 - the caller's transaction fails after the offer
    assert offered.calls == []
    stock_request.refresh_from_db()
    assert stock_request.status == "PENDING"
    assert not AssignmentEvent.objects.exists()


def test_a_failing_receiver_does_not_stop_the_others(
    record, django_capture_on_commit_callbacks, stock_request, driver
):
    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    signals.assignment_offered.connect(broken)
    try:
        offered = record(signals.assignment_offered)
        with django_capture_on_commit_callbacks(execute=True):
            stock_request.offer(driver)
    finally:
        signals.assignment_offered.disconnect(broken)
    assert len(offered.calls) == 1
    stock_request.refresh_from_db()
    assert stock_request.status == "ASSIGNING"


def test_sweep_sends_one_bulk_signal_per_batch_with_no_instances(
    record, django_capture_on_commit_callbacks, driver, user
):
    expired = record(signals.assignment_expired)
    rows = [StockRequest.objects.create() for _ in range(5)]
    for row in rows:
        row.offer(driver)
    tickets = [Ticket.objects.create() for _ in range(2)]
    for ticket in tickets:
        ticket.offer(user)
    make_due(StockRequest)
    make_due(Ticket)
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep(batch_size=2)
    assert result.expired_count == 7
    assert result.by_model == {"testapp.StockRequest": 5, "testapp.Ticket": 2}
    by_sender = {}
    for call in expired.calls:
        assert set(call) == {"sender", "expired"}
        assert 1 <= len(call["expired"]) <= 2
        by_sender.setdefault(call["sender"], []).extend(call["expired"])
    assert sorted(o.pk for o in by_sender[StockRequest]) == sorted(r.pk for r in rows)
    assert sorted(o.pk for o in by_sender[Ticket]) == sorted(t.pk for t in tickets)
    for offer in by_sender[StockRequest]:
        assert isinstance(offer, signals.ExpiredOffer)
        assert (offer.attempt, offer.assignee_pk) == (1, driver.pk)
        assert type(offer.pk) is int
    assert {type(o.pk).__name__ for o in by_sender[Ticket]} == {"UUID"}
    assert {o.assignee_pk for o in by_sender[Ticket]} == {user.pk}
