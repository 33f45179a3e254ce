"""Dispatch chains: start, step on reject and expiry, skip, limits, exhaustion, once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from django_assignment_timeout import (
    AlreadyDispatching,
    AlreadyOffered,
    ConfigurationError,
    NoCandidate,
)
from django_assignment_timeout.chains import advance, running_chain
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.dispatch_chain import ChainEnd, ChainState
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.options import options_for
from django_assignment_timeout.policies import Sequential
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, Job, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def drivers():
    return [Driver.objects.create(name=f"p-{i}") for i in range(4)]


@pytest.fixture
def job(drivers):
    return Job.objects.create(pool="p-")


@pytest.fixture
def policy(monkeypatch):
    """Replace Job's policy for one test: policy(order=..., max_attempts=...)."""

    def use(**changes):
        opts = options_for(Job)
        changed = dataclasses.replace(
            opts, dispatch=dataclasses.replace(opts.dispatch, **changes)
        )
        monkeypatch.setattr(Job, "_assignment_options", changed)
        return changed.dispatch

    return use


def _kinds(job):
    return [(e.kind, e.attempt, e.assignee_pk) for e in job.assignment_events()]


def _expire_and_step(job):
    make_due(Job, job.pk)
    sweep()
    deliver_pending()
    job.refresh_from_db()


def test_start_offers_the_first_candidate_and_records_a_running_chain(job, drivers):
    event = job.start_dispatch()
    assert (event.kind, event.attempt, event.assignee_pk) == (
        "offered",
        1,
        str(drivers[0].pk),
    )
    assert job.assignee_id == drivers[0].pk and job.status == "offered"
    chain = running_chain(Job, job.pk)
    assert (chain.state, chain.first_attempt, chain.attempt, chain.offers) == (
        ChainState.RUNNING,
        1,
        1,
        1,
    )


def test_expiry_offers_the_next_candidate_from_the_relay(job, drivers):
    job.start_dispatch()
    _expire_and_step(job)
    assert job.assignee_id == drivers[1].pk and job.assignment_attempt == 2
    assert running_chain(Job, job.pk).attempt == 2


def test_reject_offers_the_next_candidate_and_skips_who_declined(job, drivers):
    job.start_dispatch()
    job.reject(drivers[0], reason="truck in service")
    deliver_pending()
    job.refresh_from_db()
    assert job.assignee_id == drivers[1].pk
    job.reject(drivers[1])
    deliver_pending()
    job.refresh_from_db()
    assert job.assignee_id == drivers[2].pk


def test_accept_ends_the_chain(job, drivers):
    job.start_dispatch()
    job.accept(drivers[0])
    deliver_pending()
    chain = job.dispatch_chains().get()
    assert (chain.state, chain.end_reason, chain.running_pk) == (
        ChainState.ACCEPTED,
        ChainEnd.ACCEPTED,
        None,
    )


def test_max_attempts_exhausts_the_chain_with_one_event(job, drivers):
    job.start_dispatch()
    for _ in range(3):
        _expire_and_step(job)
    assert job.status == "pending" and job.assignee_id is None
    chain = job.dispatch_chains().get()
    assert (chain.state, chain.end_reason, chain.offers) == (
        ChainState.EXHAUSTED,
        ChainEnd.MAX_ATTEMPTS,
        3,
    )
    exhausted = AssignmentEvent.objects.filter(kind="exhausted")
    assert [(e.attempt, e.reason, e.assignee_pk) for e in exhausted] == [
        (3, "max_attempts", str(drivers[2].pk))
    ]
    # Replaying every step changes nothing.
    for event in job.assignment_events():
        advance(Job, event)
    assert AssignmentEvent.objects.filter(kind="exhausted").count() == 1
    assert _kinds(job)[-1][0] == "exhausted"


def test_no_candidate_left_exhausts_the_chain(job, drivers, policy):
    policy(max_attempts=None)
    job.start_dispatch()
    for _ in range(4):
        _expire_and_step(job)
    chain = job.dispatch_chains().get()
    assert (chain.state, chain.end_reason, chain.offers) == (
        ChainState.EXHAUSTED,
        ChainEnd.NO_CANDIDATES,
        4,
    )
    offered = [e.assignee_pk for e in job.assignment_events() if e.kind == "offered"]
    assert offered == [str(d.pk) for d in drivers]


def test_overall_deadline_exhausts_the_chain(job, drivers, policy):
    policy(max_attempts=None, deadline=0.001)
    job.start_dispatch()
    _expire_and_step(job)
    chain = job.dispatch_chains().get()
    assert (chain.state, chain.end_reason) == (ChainState.EXHAUSTED, ChainEnd.DEADLINE)
    assert job.status == "pending"


def test_start_without_a_candidate_writes_nothing(db):
    job = Job.objects.create(pool="nobody-")
    with pytest.raises(NoCandidate):
        job.start_dispatch()
    assert job.dispatch_chains().count() == 0
    assert AssignmentEvent.objects.count() == 0


def test_a_second_start_is_refused(job):
    job.start_dispatch()
    with pytest.raises(AlreadyOffered):
        job.start_dispatch()
    job.stop_dispatch()
    job.expire(force=True)
    job.start_dispatch()
    with pytest.raises((AlreadyDispatching, AlreadyOffered)):
        job.start_dispatch()


def test_start_is_refused_for_a_model_without_a_policy(stock_request):
    with pytest.raises(ConfigurationError, match="no dispatch policy"):
        stock_request.start_dispatch()
    assert isinstance(StockRequest.objects.get(), StockRequest)


def test_a_hand_offer_supersedes_the_chain(job, drivers):
    job.start_dispatch()
    job.reject(drivers[0])
    # The dispatcher steps in before the relay runs.
    job.offer(drivers[3])
    deliver_pending()
    job.refresh_from_db()
    assert job.assignee_id == drivers[3].pk
    chain = job.dispatch_chains().get()
    assert (chain.state, chain.end_reason) == (
        ChainState.STOPPED,
        ChainEnd.SUPERSEDED,
    )


def test_stop_leaves_the_open_offer_and_takes_no_step(job, drivers):
    job.start_dispatch()
    assert job.stop_dispatch() is True
    _expire_and_step(job)
    assert job.status == "pending" and job.assignee_id is None
    assert job.stop_dispatch() is False


def test_each_step_is_taken_once_however_often_it_is_replayed(job, drivers):
    job.start_dispatch()
    make_due(Job, job.pk)
    sweep()
    expired = AssignmentEvent.objects.get(kind="expired")
    for _ in range(3):
        advance(Job, expired)
    offers = AssignmentEvent.objects.filter(kind="offered")
    assert [e.attempt for e in offers] == [1, 2]


def test_round_robin_starts_with_who_was_offered_least_recently(drivers, policy):
    policy(order="round_robin")
    first = Job.objects.create(pool="p-")
    second = Job.objects.create(pool="p-")
    assert first.start_dispatch().assignee_pk == str(drivers[0].pk)
    assert second.start_dispatch().assignee_pk == str(drivers[1].pk)
    first.accept(drivers[0])
    second.accept(drivers[1])
    third = Job.objects.create(pool="p-")
    assert third.start_dispatch().assignee_pk == str(drivers[2].pk)


def test_least_loaded_prefers_who_holds_the_fewest(drivers, policy):
    policy(order="least_loaded")
    for driver in drivers[:2]:
        held = Job.objects.create(pool="x")
        held.offer(driver)
    job = Job.objects.create(pool="p-")
    assert job.start_dispatch().assignee_pk == str(drivers[2].pk)


def test_a_failing_candidates_method_is_a_configuration_error(job, monkeypatch):
    def broken(self):
        raise LookupError("no station")

    monkeypatch.setattr(Job, "dispatch_candidates", broken)
    with pytest.raises(ConfigurationError, match="dispatch_candidates"):
        job.start_dispatch()


def test_a_step_that_fails_leaves_its_event_in_the_outbox(job, drivers, monkeypatch):
    job.start_dispatch()
    deliver_pending()
    make_due(Job, job.pk)
    sweep()

    def broken(self):
        raise LookupError("station offline")

    monkeypatch.setattr(Job, "dispatch_candidates", broken)
    deliver_pending()
    expired = AssignmentEvent.objects.get(kind="expired")
    assert expired.delivery_state == "pending"
    assert "dispatch step failed" in expired.last_error
    monkeypatch.undo()
    AssignmentEvent.objects.filter(pk=expired.pk).update(
        next_attempt_at=expired.created_at
    )
    deliver_pending()
    job.refresh_from_db()
    assert job.assignee_id == drivers[1].pk


def test_sequential_is_a_frozen_declaration():
    policy = Sequential(candidates="dispatch_candidates", deadline=90)
    assert policy.strategy == "sequential" and policy.deadline_seconds == 90.0


def test_start_refuses_a_missing_or_taken_assignment(job, drivers):
    from django_assignment_timeout import AlreadyTaken, AssignmentNotFound
    from django_assignment_timeout.chains import start_dispatch

    with pytest.raises(AssignmentNotFound):
        start_dispatch(Job, job.pk + 1000)
    job.offer(drivers[0])
    job.accept(drivers[0])
    with pytest.raises(AlreadyTaken):
        job.start_dispatch()


def test_start_while_a_chain_waits_for_its_step_is_refused(job, drivers):
    job.start_dispatch()
    job.reject(drivers[0])  # pending again; the relay has not stepped yet
    with pytest.raises(AlreadyDispatching):
        job.start_dispatch()
    deliver_pending()
    job.refresh_from_db()
    assert job.assignee_id == drivers[1].pk


def test_a_withdrawn_offer_stops_the_chain(job, drivers):
    job.start_dispatch()
    job.withdraw(reason="dispatcher took it back")
    deliver_pending()  # the relay takes the step
    chain = job.dispatch_chains().get()
    assert (chain.state, chain.end_reason) == (ChainState.STOPPED, ChainEnd.WITHDRAWN)
    assert "stopped" in str(chain)
    # Nobody else is offered it: the dispatcher decides what comes next.
    job.refresh_from_db()
    assert (job.status, job.assignment_attempt) == ("pending", 1)
    assert _kinds(job) == [
        ("offered", 1, str(drivers[0].pk)),
        ("withdrawn", 1, str(drivers[0].pk)),
    ]


def test_an_extended_offer_keeps_the_chain_waiting_for_its_ending(job, drivers):
    job.start_dispatch()
    job.extend(by=60)
    deliver_pending()  # the extension is no step
    assert running_chain(Job, job.pk).attempt == 1
    _expire_and_step(job)
    assert job.assignee_id == drivers[1].pk and job.assignment_attempt == 2


def test_an_offer_made_while_the_step_reads_its_candidates_supersedes_it(
    job, drivers, monkeypatch
):
    job.start_dispatch()
    job.reject(drivers[0])

    def hand_offer_first(self):
        Job.objects.offer(self.pk, drivers[3])
        return Driver.objects.filter(name__startswith="p-").order_by("pk")

    monkeypatch.setattr(Job, "dispatch_candidates", hand_offer_first)
    deliver_pending()
    job.refresh_from_db()
    assert job.assignee_id == drivers[3].pk
    chain = job.dispatch_chains().get()
    assert chain.end_reason == ChainEnd.SUPERSEDED


def test_a_candidate_that_is_gone_is_skipped(job, drivers, monkeypatch):
    monkeypatch.setattr(
        Job, "dispatch_candidates", lambda self: [drivers[3].pk + 1000, drivers[2]]
    )
    assert job.start_dispatch().assignee_pk == str(drivers[2].pk)


@pytest.mark.parametrize(
    ("returned", "message"),
    [(42, "must return an iterable"), (["not a key"], "bad candidate")],
)
def test_a_candidates_method_returning_nonsense_is_a_configuration_error(
    job, monkeypatch, returned, message
):
    monkeypatch.setattr(Job, "dispatch_candidates", lambda self: returned)
    with pytest.raises(ConfigurationError, match=message):
        job.start_dispatch()


def test_no_candidates_at_all_is_no_candidate(job, monkeypatch):
    monkeypatch.setattr(Job, "dispatch_candidates", lambda self: None)
    with pytest.raises(NoCandidate):
        job.start_dispatch()


def test_a_turn_names_its_candidate(job, drivers, policy):
    from django_assignment_timeout.dispatch_chain import DispatchTurn

    policy(order="round_robin")
    job.start_dispatch()
    assert str(drivers[0].pk) in str(DispatchTurn.objects.get())


def test_every_chain_offer_sets_the_policys_offer_values(
    job, drivers, policy, monkeypatch
):
    monkeypatch.setattr(Job, "dispatch_candidates", lambda self: drivers)
    policy(offer_values={"pool": "chained"})
    job.start_dispatch()
    assert Job.objects.get(pk=job.pk).pool == "chained"
    Job.objects.filter(pk=job.pk).update(pool="")
    make_due(Job)
    sweep()
    deliver_pending()
    assert Job.objects.get(pk=job.pk).pool == "chained"
    assert [kind for kind, *_ in _kinds(job)].count("offered") == 2


def test_only_round_robin_records_turns(job, drivers):
    from django_assignment_timeout.dispatch_chain import DispatchTurn

    job.start_dispatch()  # order "given" never reads them
    assert not DispatchTurn.objects.exists()
    assert Sequential("c", deadline=timedelta(minutes=2)).deadline_seconds == 120.0
