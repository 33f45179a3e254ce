"""The per-recipient rules: who a retry sends to, which rows a try writes, dead letters.

A scripted backend answers per (alias, recipient key); two aliases of it
stand for two notifier backends. Every test runs on SQLite, PostgreSQL and
MariaDB.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from django_assignment_timeout import delivery
from django_assignment_timeout.delivery import (
    claim_batch,
    deliver_pending,
    requeue_dead,
    requeue_recipients,
)
from django_assignment_timeout.models import (
    AssignmentEvent,
    DeliveryState,
    RecipientDelivery,
    RecipientState,
)
from django_assignment_timeout.notifications import make_notification
from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    RecipientResult,
    Status,
    recipient_key,
)
from django_assignment_timeout.recipient_delivery import KEY_LENGTH, stored_key
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPTED = {"BACKEND": "tests.test_recipient_delivery.Scripted"}
TWO = override_settings(
    ASSIGNMENT_TIMEOUT_NOTIFIERS={"a": SCRIPTED, "b": SCRIPTED},
    ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS=4,
)


class Scripted(BaseNotifier):
    """Answers each (alias, recipient key) from a script, SENT when none is left."""

    script: dict[tuple[str, str], list[Status]] = {}
    sent: list[tuple[str, str, str]] = []  # (alias, recipient key, body)
    explode: set[str] = set()
    silent: set[tuple[str, str]] = set()

    def send(self, notifications):
        if self.alias in self.explode:
            raise RuntimeError("service on fire")
        results = []
        for n in notifications:
            for r in n.recipients:
                key = recipient_key(r)
                type(self).sent.append((self.alias, key, n.body))
                if (self.alias, key) in self.silent:
                    continue
                queue = self.script.get((self.alias, key), [])
                status = queue.pop(0) if queue else Status.SENT
                results.append(RecipientResult(n, r, status, error=f"{status.value}"))
        return results


@pytest.fixture(autouse=True)
def _clean():
    Scripted.script = {}
    Scripted.sent = []
    Scripted.explode = set()
    Scripted.silent = set()


@pytest.fixture
def crew(monkeypatch):
    """Three drivers told of every event; ``crew.body`` is what they are told."""
    people = [Driver.objects.create(name=n) for n in ("Ravi", "Asha", "Noor")]

    class Crew(list):
        body = "first"
        named = people

    told = Crew(people)

    def notifications(self, event):
        return [make_notification(self, event, told.named, "Trip", told.body)]

    monkeypatch.setattr(StockRequest, "assignment_notifications", notifications)
    return told


def _keys(*drivers):
    return [recipient_key(d) for d in drivers]


def _again():
    """Make every retry due now (the database clock does not move in tests)."""
    AssignmentEvent.objects.undelivered().update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    Scripted.sent = []
    return deliver_pending()


def _rows():
    return {
        (r.backend, r.recipient_key): (r.state, r.failures)
        for r in RecipientDelivery.objects.all()
    }


@TWO
def test_a_clean_first_delivery_writes_no_recipient_row(crew, stock_request):
    stock_request.offer(crew[0])
    with CaptureQueriesContext(connection) as queries:
        assert deliver_pending().delivered == 1

    table = RecipientDelivery._meta.db_table
    touching = [q["sql"] for q in queries if table in q["sql"]]
    assert len(touching) == 1  # the one read of the batch's open rows
    assert touching[0].lstrip().upper().startswith("SELECT")
    assert len(Scripted.sent) == 6  # three drivers through two backends
    assert not RecipientDelivery.objects.exists()


@TWO
def test_a_retry_sends_only_to_the_pair_that_failed(crew, stock_request):
    ravi, asha, _noor = crew
    Scripted.script = {("b", recipient_key(asha)): [Status.RETRY]}
    event = stock_request.offer(ravi)
    assert deliver_pending().retried == 1
    assert _rows() == {("b", recipient_key(asha)): (RecipientState.RETRY, 1)}

    assert _again().delivered == 1
    assert Scripted.sent == [("b", recipient_key(asha), "first")]
    assert _rows() == {("b", recipient_key(asha)): (RecipientState.DELIVERED, 1)}
    event.refresh_from_db()
    assert (event.delivery_state, event.delivery_attempts) == ("delivered", 2)


@TWO
def test_changed_content_is_matched_by_recipient_key(crew, stock_request):
    ravi, _asha, noor = crew
    Scripted.script = {("a", recipient_key(noor)): [Status.RETRY]}
    stock_request.offer(ravi)
    deliver_pending()

    crew.body = "second"
    crew.named = [Driver.objects.get(pk=d.pk) for d in crew]  # new instances
    assert _again().delivered == 1
    assert Scripted.sent == [("a", recipient_key(noor), "second")]


@TWO
def test_a_recipient_no_longer_named_is_dropped(crew, stock_request):
    ravi, asha, noor = crew
    Scripted.script = {("a", recipient_key(noor)): [Status.RETRY]}
    event = stock_request.offer(ravi)
    deliver_pending()

    crew.named = [ravi, asha]
    assert _again().delivered == 1
    assert Scripted.sent == []  # nobody left to tell
    assert not RecipientDelivery.objects.exists()
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED


@TWO
def test_a_permanent_failure_is_a_dead_letter_while_others_are_retried(
    crew, stock_request
):
    ravi, asha, noor = crew
    Scripted.script = {
        ("a", recipient_key(asha)): [Status.FAILED],
        ("a", recipient_key(noor)): [Status.RETRY],
    }
    event = stock_request.offer(ravi)
    assert deliver_pending().retried == 1  # Noor is still owed

    assert _again().dead == 1  # Noor got it; Asha's failure makes the event dead
    assert Scripted.sent == [("a", recipient_key(noor), "first")]
    assert _rows() == {
        ("a", recipient_key(asha)): (RecipientState.DEAD, 1),
        ("a", recipient_key(noor)): (RecipientState.DELIVERED, 1),
    }
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DEAD
    assert event.last_error == f"dead: {recipient_key(asha)} via a"


@TWO
def test_an_unreachable_recipient_is_recorded_and_never_retried(crew, stock_request):
    ravi, _asha, _noor = crew
    Scripted.script = {("a", recipient_key(ravi)): [Status.INVALID_RECIPIENT]}
    event = stock_request.offer(ravi)
    assert deliver_pending().delivered == 1
    assert _rows() == {("a", recipient_key(ravi)): (RecipientState.INVALID, 1)}
    assert _again().delivered == 0
    assert Scripted.sent == []
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED


@TWO
def test_out_of_tries_the_owed_pairs_are_dead_and_requeue_owes_them_again(
    crew, stock_request
):
    ravi, asha, noor = crew
    Scripted.script = {("b", recipient_key(noor)): [Status.RETRY] * 4}
    event = stock_request.offer(ravi)
    deliver_pending()
    for _ in range(3):
        _again()
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DEAD
    assert _rows() == {("b", recipient_key(noor)): (RecipientState.DEAD, 4)}

    assert requeue_dead(recipient=recipient_key(asha)) == 0  # not a dead letter
    assert requeue_dead([event.pk]) == 1
    assert _again().delivered == 1
    assert Scripted.sent == [("b", recipient_key(noor), "first")]


@TWO
def test_requeue_by_backend_and_by_row(crew, stock_request):
    ravi, asha, noor = crew
    Scripted.script = {
        ("a", recipient_key(asha)): [Status.FAILED],
        ("b", recipient_key(noor)): [Status.FAILED],
    }
    event = stock_request.offer(ravi)
    assert deliver_pending().dead == 1
    asha_row = RecipientDelivery.objects.get(backend="a")

    assert requeue_dead(backend="b") == 1
    assert _again().dead == 1  # Noor through b delivered; Asha through a still dead
    assert Scripted.sent == [("b", recipient_key(noor), "first")]

    assert requeue_recipients([asha_row.pk]) == 1
    assert _again().delivered == 1
    assert Scripted.sent == [("a", recipient_key(asha), "first")]
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED


@TWO
def test_a_dead_row_of_an_event_still_being_tried_is_not_requeued(crew, stock_request):
    ravi, asha, noor = crew
    Scripted.script = {
        ("a", recipient_key(asha)): [Status.FAILED],
        ("a", recipient_key(noor)): [Status.RETRY],
    }
    stock_request.offer(ravi)
    deliver_pending()
    dead_row = RecipientDelivery.objects.get(state=RecipientState.DEAD)
    assert requeue_recipients([dead_row.pk]) == 0
    dead_row.refresh_from_db()
    assert dead_row.state == RecipientState.DEAD


@TWO
def test_an_event_dead_before_any_row_is_sent_to_everyone_when_requeued(
    crew, stock_request
):
    event = stock_request.offer(crew[0])
    AssignmentEvent.objects.update(
        delivery_state=DeliveryState.DEAD, next_attempt_at=None, delivery_attempts=8
    )
    assert requeue_dead([event.pk]) == 1
    assert _again().delivered == 1
    assert len(Scripted.sent) == 6


@TWO
def test_a_backend_that_raises_owes_all_its_recipients_and_only_its(
    crew, stock_request
):
    Scripted.explode = {"b"}
    stock_request.offer(crew[0])
    assert deliver_pending().retried == 1
    assert set(_rows()) == {("b", k) for k in _keys(*crew)}

    Scripted.explode = set()
    assert _again().delivered == 1
    assert sorted(Scripted.sent) == sorted(("b", k, "first") for k in _keys(*crew))


@TWO
def test_a_recipient_without_a_result_is_owed_alone(crew, stock_request):
    ravi, asha, _noor = crew
    Scripted.silent = {("a", recipient_key(asha))}
    event = stock_request.offer(ravi)
    assert deliver_pending().retried == 1
    assert _rows() == {("a", recipient_key(asha)): (RecipientState.RETRY, 1)}
    event.refresh_from_db()
    assert "no result" in event.last_error

    Scripted.silent = set()
    _again()
    assert Scripted.sent == [("a", recipient_key(asha), "first")]


@TWO
def test_when_nothing_can_be_built_the_owed_pairs_are_kept(
    crew, stock_request, monkeypatch
):
    ravi, _asha, noor = crew
    Scripted.script = {("a", recipient_key(noor)): [Status.RETRY]}
    stock_request.offer(ravi)
    deliver_pending()

    def broken(self, event):
        raise ValueError("template gone")

    monkeypatch.setattr(StockRequest, "assignment_notifications", broken)
    assert _again().retried == 1
    assert _rows() == {("a", recipient_key(noor)): (RecipientState.RETRY, 2)}


@TWO
def test_a_stale_relay_writes_no_rows(crew, stock_request):
    ravi, asha, _noor = crew
    Scripted.script = {("a", recipient_key(asha)): [Status.RETRY]}
    stock_request.offer(ravi)
    [stale] = claim_batch(10)
    outcomes = delivery.send_batch([stale], delivery.relay.get_notifiers())
    # Its lease ran out: another relay claimed the event meanwhile.
    AssignmentEvent.objects.update(
        next_attempt_at=timezone.now(), delivery_attempts=stale.delivery_attempts + 1
    )
    delivery.record(outcomes)
    assert not RecipientDelivery.objects.exists()


def test_long_keys_are_stored_as_distinct_digests():
    short = "x" * KEY_LENGTH
    first, second = (
        "https://hooks.example/" + "a" * 300,
        "https://hooks.example/" + "b" * 300,
    )
    assert stored_key(short) == short
    assert stored_key(first) != stored_key(second)
    assert stored_key(first).startswith("sha256:")
    assert len(stored_key(first)) <= KEY_LENGTH


def test_recipient_and_backend_options_need_requeue_dead():
    with pytest.raises(CommandError, match="go with --requeue-dead"):
        call_command("deliver_assignment_events", "--recipient", "testapp.driver:1")
    with pytest.raises(CommandError, match="go with --requeue-dead"):
        call_command("deliver_assignment_events", "--list-dead", "--backend", "push")


@TWO
def test_list_dead_counts_events_and_recipients(crew, stock_request, capsys):
    Scripted.script = {("a", k): [Status.FAILED] for k in _keys(*crew[:2])}
    stock_request.offer(crew[0])
    deliver_pending()
    call_command("deliver_assignment_events", "--list-dead")
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 dead event(s), 2 dead recipient(s)"
    assert [line.split("\t")[2] for line in lines[1:-1]] == _keys(*crew[:2])


@TWO
def test_when_nobody_got_it_no_row_is_written_and_everyone_is_retried(
    crew, stock_request
):
    Scripted.explode = {"a", "b"}  # both services down
    event = stock_request.offer(crew[0])
    assert deliver_pending().retried == 1
    assert not RecipientDelivery.objects.exists()  # a mass failure writes no rows

    Scripted.explode = set()
    assert _again().delivered == 1
    assert len(Scripted.sent) == 6  # everyone, once
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED
