"""Broadcast chains: one round offered to several candidates, the first accept wins."""

from __future__ import annotations

import pytest
from django.core import checks

from django_assignment_timeout import (
    AlreadyTaken,
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
)
from django_assignment_timeout.chains import running_chain
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.dispatch_chain import ChainEnd, ChainState, DispatchChain
from django_assignment_timeout.notifications import default_notifications
from django_assignment_timeout.options import options_for
from django_assignment_timeout.policies import Broadcast
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, Load

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def drivers():
    return [Driver.objects.create(name=f"b-{i}") for i in range(5)]


@pytest.fixture
def load(drivers):
    return Load.objects.create(pool="b-")


def _events(load, *kinds):
    return [
        (e.kind, e.attempt, e.assignee_pk, e.sequence)
        for e in load.assignment_events()
        if not kinds or e.kind in kinds
    ]


def _chain(load):
    return DispatchChain.objects.get(object_pk=str(load.pk), content_type__model="load")


def test_a_round_offers_the_first_candidates_at_once_as_one_attempt(load, drivers):
    first = load.start_dispatch()
    load.refresh_from_db()
    assert (load.status, load.assignee_id, load.assignment_attempt) == (
        "offered",
        None,
        1,
    )
    offers = list(load.assignment_events())
    assert [(e.kind, e.assignee_pk, e.sequence) for e in offers] == [
        ("offered", str(d.pk), n) for n, d in enumerate(drivers[:3], start=1)
    ]
    assert {e.deadline for e in offers} == {load.assignment_expires_at}
    assert first.pk == offers[0].pk
    assert running_chain(Load, load.pk).offers == 1


def test_the_first_accept_wins_and_ends_every_other_offer_in_its_transaction(
    load, drivers
):
    load.start_dispatch()
    won = Load.objects.accept(load.pk, drivers[1], attempt=1)
    load.refresh_from_db()
    assert (won.kind, won.assignee_pk) == ("accepted", str(drivers[1].pk))
    assert (load.status, load.assignee_id, load.assignment_expires_at) == (
        "accepted",
        drivers[1].pk,
        None,
    )
    assert _events(load, "taken", "accepted") == [
        ("taken", 1, str(drivers[0].pk), 1),
        ("taken", 1, str(drivers[2].pk), 3),
        ("accepted", 1, str(drivers[1].pk), 0),
    ]
    for late in (drivers[0], drivers[2]):
        with pytest.raises(AlreadyTaken):
            Load.objects.accept(load.pk, late, attempt=1)
    with pytest.raises(AlreadyTaken):
        Load.objects.reject(load.pk, drivers[2])
    deliver_pending()
    assert (_chain(load).state, _chain(load).end_reason) == (
        ChainState.ACCEPTED,
        ChainEnd.ACCEPTED,
    )


def test_someone_the_round_was_not_offered_to_is_refused_and_changes_nothing(
    load, drivers
):
    load.start_dispatch()
    with pytest.raises(NotOfferedToYou):
        Load.objects.accept(load.pk, drivers[4])
    load.refresh_from_db()
    assert (load.status, load.assignee_id) == ("offered", None)
    assert _events(load, "accepted", "taken") == []


def test_one_decline_ends_only_that_candidates_offer(load, drivers):
    load.start_dispatch()
    declined = Load.objects.reject(load.pk, drivers[0], reason="too far")
    assert (declined.kind, declined.sequence, declined.reason) == (
        "rejected",
        1,
        "too far",
    )
    deliver_pending()  # the step finds the round still open and waits
    load.refresh_from_db()
    assert (load.status, load.assignment_attempt) == ("offered", 1)
    assert running_chain(Load, load.pk).attempt == 1
    with pytest.raises(NoActiveOffer, match="already declined"):
        Load.objects.accept(load.pk, drivers[0])
    Load.objects.accept(load.pk, drivers[2])
    # The decliner's offer had ended already: only the still open one is taken.
    assert _events(load, "taken") == [("taken", 1, str(drivers[1].pk), 2)]


def test_a_decline_the_relay_sees_after_the_accept_still_ends_the_chain_accepted(
    load, drivers
):
    load.start_dispatch()
    Load.objects.reject(load.pk, drivers[0])
    Load.objects.accept(load.pk, drivers[2])
    deliver_pending()  # the decline's step comes first and finds the row taken
    assert (_chain(load).state, _chain(load).end_reason) == (
        ChainState.ACCEPTED,
        ChainEnd.ACCEPTED,
    )


def test_when_everyone_declined_the_next_round_goes_to_the_next_candidates(
    load, drivers
):
    load.start_dispatch()
    for driver in drivers[:3]:
        Load.objects.reject(load.pk, driver)
    load.refresh_from_db()
    assert (load.status, load.assignment_expires_at) == ("pending", None)
    deliver_pending()
    load.refresh_from_db()
    assert (load.status, load.assignment_attempt) == ("offered", 2)
    assert _events(load, "offered")[3:] == [
        ("offered", 2, str(drivers[3].pk), 1),
        ("offered", 2, str(drivers[4].pk), 2),
    ]


def test_an_expired_round_moves_on_and_max_rounds_exhausts_the_chain(load, drivers):
    load.start_dispatch()
    make_due(Load, load.pk)
    sweep()
    deliver_pending()
    load.refresh_from_db()
    assert load.assignment_attempt == 2
    # Nobody offered the first round is offered again.
    assert [e[2] for e in _events(load, "offered") if e[1] == 2] == [
        str(d.pk) for d in drivers[3:]
    ]
    make_due(Load, load.pk)
    sweep()
    deliver_pending()
    load.refresh_from_db()
    assert load.status == "pending"
    assert _events(load, "exhausted") == [("exhausted", 2, None, 0)]
    assert _chain(load).end_reason == ChainEnd.MAX_ATTEMPTS


def test_an_accept_after_the_deadline_expires_the_round_and_is_refused(load, drivers):
    load.start_dispatch()
    make_due(Load, load.pk)
    with pytest.raises(OfferExpired):
        Load.objects.accept(load.pk, drivers[1])
    load.refresh_from_db()
    assert load.status == "pending"
    assert _events(load, "expired", "accepted") == [("expired", 1, None, 0)]
    # Once ended, a candidate of that round is still told it expired.
    with pytest.raises(OfferExpired):
        Load.objects.accept(load.pk, drivers[2], attempt=1)


def test_an_answer_pinned_to_an_earlier_round_is_refused(load, drivers):
    load.start_dispatch()
    for driver in drivers[:3]:
        Load.objects.reject(load.pk, driver)
    deliver_pending()
    with pytest.raises(OfferExpired, match="newer offer"):
        Load.objects.accept(load.pk, drivers[3], attempt=1)
    with pytest.raises(NoActiveOffer):
        Load.objects.accept(load.pk, drivers[3], attempt=3)
    Load.objects.accept(load.pk, drivers[3], attempt=2)


def test_a_hand_offer_of_a_broadcast_model_is_answered_as_a_single_offer(load, drivers):
    load.offer(drivers[4])
    with pytest.raises(NotOfferedToYou):
        Load.objects.accept(load.pk, drivers[0])
    Load.objects.accept(load.pk, drivers[4])
    load.refresh_from_db()
    assert (load.status, load.assignee_id) == ("accepted", drivers[4].pk)


def test_a_withdrawn_round_stops_the_chain(load, drivers):
    load.start_dispatch()
    load.withdraw(reason="customer cancelled")
    deliver_pending()
    load.refresh_from_db()
    assert load.status == "pending"
    assert _chain(load).end_reason == ChainEnd.WITHDRAWN
    with pytest.raises(OfferExpired, match="withdrawn"):
        Load.objects.accept(load.pk, drivers[0])


def test_an_extended_round_names_no_assignee_and_is_delivered(load, drivers):
    load.start_dispatch()
    extended = load.extend(by=60)
    assert (extended.kind, extended.assignee_pk) == ("extended", None)
    deliver_pending()
    extended.refresh_from_db()
    assert extended.delivery_state == "delivered"
    Load.objects.accept(load.pk, drivers[0])


def test_each_candidate_whose_offer_was_taken_is_told(load, drivers):
    load.start_dispatch()
    Load.objects.accept(load.pk, drivers[0])
    load.refresh_from_db()
    taken = load.assignment_events().filter(kind="taken").first()
    (message,) = default_notifications(load, taken)
    assert message.title == "Offer taken"
    assert [r.pk for r in message.recipients] == [drivers[1].pk]


@pytest.mark.parametrize(
    ("policy", "check_id"),
    [
        (
            Broadcast(candidates="dispatch_candidates", size=0),
            "assignment_timeout.E096",
        ),
        (
            Broadcast(candidates="dispatch_candidates", max_rounds=0),
            "assignment_timeout.E093",
        ),
        (Broadcast(candidates="nope"), "assignment_timeout.E091"),
    ],
)
def test_checks_report_a_bad_broadcast_policy(policy, check_id):
    from django_assignment_timeout.checks.dispatch import check_dispatch

    found = check_dispatch(Load, policy)
    assert [m.id for m in found] == [check_id]
    assert all(isinstance(m, checks.Error) for m in found)


def test_the_declared_broadcast_policy_passes_the_checks():
    from django_assignment_timeout.checks.dispatch import check_dispatch

    assert check_dispatch(Load, options_for(Load).dispatch) == []
