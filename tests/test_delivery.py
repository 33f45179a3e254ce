"""The relay: claim, send outside transactions, record; retries, dead events, fencing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from django_assignment_timeout import delivery
from django_assignment_timeout.delivery import (
    claim_batch,
    deliver_pending,
    requeue_dead,
)
from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifications import collapse_key
from django_assignment_timeout.notifiers import locmem
from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    RecipientResult,
    Status,
)
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

LOCMEM = {"BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"}


class ScriptedNotifier(BaseNotifier):
    """A real backend whose answers the test scripts (class-level, shared)."""

    answers: list[tuple[Status, float | None]] = []
    calls: list[list[int | None]] = []
    explode = False

    def send(self, notifications):
        type(self).calls.append([n.event_id for n in notifications])
        if type(self).explode:
            raise RuntimeError("service on fire")
        status, after = (
            type(self).answers[0] if type(self).answers else (Status.SENT, None)
        )
        if type(self).answers and len(type(self).answers) > 1:
            type(self).answers.pop(0)
        return [
            RecipientResult(n, r, status, retry_after=after, error=f"scripted {status}")
            for n in notifications
            for r in n.recipients
        ]


class SilentNotifier(BaseNotifier):
    """Returns no results at all (a broken backend)."""

    def send(self, notifications):
        return []


SCRIPTED = {"BACKEND": "tests.test_delivery.ScriptedNotifier"}


@pytest.fixture(autouse=True)
def _clean():
    ScriptedNotifier.answers = []
    ScriptedNotifier.calls = []
    ScriptedNotifier.explode = False


def _pending_count():
    return AssignmentEvent.objects.undelivered().count()


def _force_due():
    AssignmentEvent.objects.undelivered().update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_offer_is_delivered_to_the_assignee_with_ids_and_collapse_key(
    stock_request, driver
):
    event = stock_request.offer(driver)

    result = deliver_pending()

    assert (result.delivered, result.retried, result.dead) == (1, 0, 0)
    [notification] = locmem.outbox
    assert notification.recipients == (driver,)
    assert notification.title == "New assignment"
    assert str(stock_request) in notification.body
    assert notification.event_id == event.pk
    assert notification.collapse_key == f"testapp.stockrequest:{stock_request.pk}:1"
    assert notification.data == {
        "assignment_type": "testapp.stockrequest",
        "assignment_id": str(stock_request.pk),
        "attempt": "1",
        "event": "offered",
        "event_id": str(event.pk),
    }
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED
    assert event.next_attempt_at is None  # the partial index holds only the backlog
    assert event.delivered_at is not None
    assert event.delivery_attempts == 1
    assert deliver_pending().delivered == 0  # nothing is sent twice


def test_each_end_of_an_offer_goes_to_the_assignee(driver, other_driver):
    expiring, accepted, rejected = (StockRequest.objects.create() for _ in range(3))
    expiring.offer(driver)
    accepted.offer(other_driver)
    rejected.offer(other_driver)
    deliver_pending()
    locmem.outbox.clear()
    accepted.accept(other_driver)
    rejected.reject(other_driver)
    make_due(StockRequest, expiring.pk)
    sweep()

    result = deliver_pending()

    ended = {n.data["event"]: n for n in locmem.outbox}
    assert sorted(ended) == ["accepted", "expired", "rejected"]
    assert ended["expired"].recipients == (driver,)
    assert ended["expired"].title == "Offer expired"
    assert ended["accepted"].recipients == (other_driver,)
    assert ended["rejected"].title == "Offer declined"
    # Each replaces its offer's push: same collapse key, marked as an ending.
    assert all(n.ends_offer and n.expires_at is None for n in ended.values())
    assert ended["accepted"].collapse_key == collapse_key(accepted, 1)
    assert result.delivered == 3
    assert _pending_count() == 0


def test_a_stale_offer_is_not_announced(stock_request, driver):
    stock_request.offer(driver)
    make_due(StockRequest)
    sweep()  # the offer ended before the relay ran

    deliver_pending()

    assert [n.data["event"] for n in locmem.outbox] == ["expired"]


def test_a_batch_loads_assignments_and_assignees_in_bulk(driver):
    drivers = [Driver.objects.create(name=f"d{i}") for i in range(30)]
    for d in drivers:
        StockRequest.objects.create().offer(d)

    with CaptureQueriesContext(connection) as small:
        deliver_pending(batch_size=100)
    for d in drivers:
        StockRequest.objects.create().offer(d)
    for _ in range(30):
        StockRequest.objects.create().offer(driver)
    with CaptureQueriesContext(connection) as large:
        deliver_pending(batch_size=100)

    assert len(locmem.outbox) == 90
    # Twice the events, the same number of queries: nothing per event.
    assert len(large.captured_queries) == len(small.captured_queries)


@override_settings(
    ASSIGNMENT_TIMEOUT_NOTIFIERS={"default": SCRIPTED},
    ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF=10.0,
    ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX=1000.0,
)
def test_retry_backs_off_exponentially_and_honours_retry_after(stock_request, driver):
    event = stock_request.offer(driver)
    ScriptedNotifier.answers = [(Status.RETRY, None)]
    delays = []
    for _ in range(4):
        before = timezone.now()
        result = deliver_pending()
        assert result.retried == 1
        event.refresh_from_db()
        delays.append((event.next_attempt_at - before).total_seconds())
        _force_due()
    # Equal jitter: try n waits between half and all of 10 * 2**(n-1) seconds.
    for n, delay in enumerate(delays, start=1):
        assert 10 * 2 ** (n - 1) / 2 - 1 <= delay <= 10 * 2 ** (n - 1) + 1
    assert event.delivery_state == DeliveryState.PENDING
    assert "scripted" in event.last_error

    ScriptedNotifier.answers = [(Status.RETRY, 900.0)]
    before = timezone.now()
    deliver_pending()
    event.refresh_from_db()
    assert (event.next_attempt_at - before).total_seconds() >= 899


@override_settings(
    ASSIGNMENT_TIMEOUT_NOTIFIERS={"default": SCRIPTED},
    ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS=3,
)
def test_an_event_is_dead_after_max_attempts_then_requeued(stock_request, driver):
    event = stock_request.offer(driver)
    ScriptedNotifier.answers = [(Status.RETRY, None)]
    results = []
    for _ in range(3):
        results.append(deliver_pending())
        _force_due()

    assert [(r.retried, r.dead) for r in results] == [(1, 0), (1, 0), (0, 1)]
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DEAD
    assert event.next_attempt_at is None
    assert deliver_pending().dead == 0  # dead events are not claimed

    out = _command("--list-dead")
    assert (
        f"{event.pk}\ttestapp.stockrequest:{stock_request.pk}\t#1\toffered\ttries=3"
        in out
    )
    assert "1 dead event(s)" in out

    ScriptedNotifier.answers = [(Status.SENT, None)]
    assert "re-queued 1 dead event(s)" in _command("--requeue-dead", str(event.pk))
    assert "delivered 1, retrying 0, dead 0" in _command()
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED


@override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS={"default": SCRIPTED})
def test_a_permanent_failure_is_dead_at_once(stock_request, driver):
    event = stock_request.offer(driver)
    ScriptedNotifier.answers = [(Status.FAILED, None)]

    assert deliver_pending().dead == 1

    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DEAD
    assert "failed: testapp.driver:" in event.last_error


@override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS={"default": SCRIPTED})
def test_an_invalid_recipient_does_not_hold_the_event(stock_request, driver):
    event = stock_request.offer(driver)
    ScriptedNotifier.answers = [(Status.INVALID_RECIPIENT, None)]

    assert deliver_pending().delivered == 1
    event.refresh_from_db()
    assert "invalid recipient" in event.last_error


@override_settings(
    ASSIGNMENT_TIMEOUT_NOTIFIERS={"broken": SCRIPTED, "mail": LOCMEM},
)
def test_a_failing_notifier_never_stops_the_others(stock_request, driver):
    ScriptedNotifier.explode = True
    event = stock_request.offer(driver)

    result = deliver_pending()

    assert len(locmem.outbox) == 1  # the second backend still sent
    assert result.retried == 1
    event.refresh_from_db()
    assert "broken: service on fire" in event.last_error
    stock_request.refresh_from_db()
    assert stock_request.status == "ASSIGNING"  # nothing rolled back


@override_settings(
    ASSIGNMENT_TIMEOUT_NOTIFIERS={
        "silent": {"BACKEND": "tests.test_delivery.SilentNotifier"}
    }
)
def test_missing_results_count_as_a_failure(stock_request, driver):
    stock_request.offer(driver)
    assert deliver_pending().retried == 1


def test_a_failing_hook_retries_the_event(monkeypatch, stock_request, driver):
    event = stock_request.offer(driver)

    def broken(self, event):
        raise LookupError("no dispatcher for this depot")

    monkeypatch.setattr(StockRequest, "assignment_notifications", broken)
    assert deliver_pending().retried == 1
    event.refresh_from_db()
    assert "no dispatcher for this depot" in event.last_error


def test_claimed_events_are_invisible_until_the_lease_ends(stock_request, driver):
    stock_request.offer(driver)
    claimed = claim_batch(10)
    assert len(claimed) == 1
    # A crash now: the next relay does not see the event...
    assert claim_batch(10) == []
    # ...until the lease has run out.
    AssignmentEvent.objects.update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert [e.pk for e in claim_batch(10)] == [claimed[0].pk]


def test_a_late_record_does_not_overwrite_a_newer_claim(stock_request, driver):
    stock_request.offer(driver)
    [stale] = claim_batch(10)
    AssignmentEvent.objects.update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    [fresh] = claim_batch(10)
    outcomes = delivery.send_batch([stale], {})
    result = delivery.DeliveryResult()

    delivery.record(outcomes, result)  # fenced: attempt 1 is no longer the claim

    assert result.delivered == 0
    assert AssignmentEvent.objects.get().delivery_state == DeliveryState.PENDING
    delivery.record(delivery.send_batch([fresh], {}), result)
    assert result.delivered == 1


def test_has_more_and_batches(driver):
    for _ in range(5):
        StockRequest.objects.create().offer(driver)
    result = deliver_pending(batch_size=2, max_batches=2)
    assert (result.delivered, result.has_more) == (4, True)
    assert deliver_pending(batch_size=2).delivered == 1


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"max_batches": True}])
def test_bad_limits_are_typed_errors(kwargs):
    with pytest.raises(InvalidArgument):
        deliver_pending(**kwargs)


def test_requeue_all_dead(stock_request, driver):
    stock_request.offer(driver)
    AssignmentEvent.objects.update(
        delivery_state=DeliveryState.DEAD, next_attempt_at=None
    )
    assert requeue_dead() == 1
    assert deliver_pending().delivered == 1


def test_command_rejects_bad_numbers():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("deliver_assignment_events", "--batch-size", "0")
    with pytest.raises(CommandError):
        call_command("deliver_assignment_events", "--interval", "0")


def test_the_sweep_command_delivers_as_a_backstop(stock_request, driver):
    stock_request.offer(driver)
    make_due(StockRequest)

    call_command("expire_assignments", stdout=_Sink())

    assert [n.data["event"] for n in locmem.outbox] == ["expired"]
    assert _pending_count() == 0


@pytest.mark.not_sqlite
def test_concurrent_relays_split_the_work_and_send_each_event_once(driver):
    from django.db import connections

    for _ in range(60):
        StockRequest.objects.create().offer(driver)
    barrier = threading.Barrier(3)
    errors = []

    def relay():
        try:
            barrier.wait()
            deliver_pending(batch_size=5)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    ids = [n.event_id for n in locmem.outbox]
    assert len(ids) == 60 == len(set(ids))
    assert _pending_count() == 0


class _Sink:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def _command(*args):
    sink = _Sink()
    call_command("deliver_assignment_events", *args, stdout=sink)
    return sink.text


def test_a_time_budget_stops_claiming_and_reports_the_rest(driver):
    for _ in range(3):
        StockRequest.objects.create().offer(driver)

    # The first batch always runs; an exhausted budget claims no second one.
    result = deliver_pending(batch_size=1, time_budget=0)

    assert (result.delivered, result.has_more) == (1, True)
    assert _pending_count() == 2
    rest = deliver_pending(batch_size=1)
    assert (rest.delivered, rest.has_more) == (2, False)
    assert _pending_count() == 0
