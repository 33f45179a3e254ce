"""Concurrency: cascades under four sweepers and two relays take every step once.

Real concurrent database connections (one per thread). Each relay claims
every due event at once, for a lease far shorter than its work, so the two
keep taking the events the other still holds: the same ended offer reaches
two steps, the second often with a stale view of its chain. That is what
the step's fences are for (the chain claimed at the ended offer's attempt,
under its lock; the offer a compare-and-set). The checker reads only the
database; the same harness with a replayed step that trusts any ending to
be its chain's current offer's (as a hand-written step would) must fail
it, which shows the checker can fail.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from django.db import connection, connections
from django.test import override_settings

from django_assignment_timeout.chains import steps
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.dispatch_chain import ChainState, DispatchChain
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.system.invariants import violations
from tests.testapp.models import Driver, Job

pytestmark = pytest.mark.django_db(transaction=True)

CHAINS = 40
CANDIDATES = 3  # Job's policy: at most three attempts
SWEEPERS, RELAYS = 4, 2
WAIT = 60  # seconds: a bound for one round, never reached when all is well


def run_round() -> list[BaseException]:
    """Make every open offer due; four sweepers and two relays until all is done."""
    make_due(Job)
    start = threading.Barrier(SWEEPERS + RELAYS)
    errors: list[BaseException] = []

    def work(step) -> None:
        try:
            start.wait(WAIT)
            for _ in range(50):
                if not step():
                    return
        except BaseException as err:  # reported by the test
            errors.append(err)
        finally:
            connections.close_all()

    def sweeper() -> bool:
        return bool(sweep([Job]).expired_count)

    def relay() -> bool:
        deliver_pending(batch_size=CHAINS * 4)
        return AssignmentEvent.objects.undelivered().exists()

    threads = [threading.Thread(target=work, args=(sweeper,)) for _ in range(SWEEPERS)]
    threads += [threading.Thread(target=work, args=(relay,)) for _ in range(RELAYS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "a worker did not finish"
    return errors


def cascade_problems(drivers: list[Driver]) -> list[str]:
    """Every chain offered its job to each driver once, in order, then ran out."""
    found = violations(Job)
    offers: dict[str, list[tuple[int, str]]] = defaultdict(list)
    exhausted: dict[str, int] = defaultdict(int)
    for pk, attempt, kind, assignee in AssignmentEvent.objects.filter(
        kind__in=("offered", "exhausted")
    ).values_list("object_pk", "attempt", "kind", "assignee_pk"):
        if kind == "offered":
            offers[pk].append((attempt, assignee))
        else:
            exhausted[pk] += 1
    expected = [(n + 1, str(d.pk)) for n, d in enumerate(drivers)]
    for job in Job.objects.values_list("pk", flat=True):
        if sorted(offers[str(job)]) != expected:
            found.append(f"job {job}: offers {sorted(offers[str(job)])}")
        if exhausted[str(job)] != 1:
            found.append(f"job {job}: {exhausted[str(job)]} exhausted events")
    states = DispatchChain.objects.values_list("object_pk", "state", "offers")
    for pk, state, made in states:
        if state != ChainState.EXHAUSTED or made != CANDIDATES:
            found.append(f"chain of job {pk}: {state} after {made} offers")
    return found


def cascade(drivers: list[Driver]) -> tuple[list[str], list[BaseException]]:
    for job in Job.objects.bulk_create(Job(pool="race-") for _ in range(CHAINS)):
        job.start_dispatch()
    errors: list[BaseException] = []
    # A claim lapses long before its batch of steps is done.
    with override_settings(ASSIGNMENT_TIMEOUT_DELIVERY_LEASE=0.001):
        for _ in range(CANDIDATES + 2):
            errors += run_round()
            if not DispatchChain.objects.filter(state=ChainState.RUNNING).exists():
                break
    return cascade_problems(drivers), errors


@pytest.fixture
def drivers():
    return [Driver.objects.create(name=f"race-{n}") for n in range(CANDIDATES)]


def test_cascades_take_every_step_once_under_four_sweepers_and_two_relays(
    drivers, monkeypatch
):
    claim, refused = steps._claim, []

    def counted(own, using):
        chain = claim(own, using)
        if chain is None:
            refused.append(own)
        return chain

    monkeypatch.setattr(steps, "_claim", counted)
    problems, errors = cascade(drivers)
    assert errors == []
    assert problems == []
    # Control: the relays took each other's events, and steps met: some
    # found their chain moved on. (SQLite's one writer, taken at BEGIN,
    # mostly runs a relay's whole batch before the other claims again.)
    if connection.vendor != "sqlite":
        assert refused


def test_the_checker_flags_a_replayed_step_that_trusts_its_ending(drivers, monkeypatch):
    advance = steps.advance

    def replayed(model, event):
        advance(model, event)
        # Replayed, as after a lapsed lease, by a step that takes "an offer
        # of this assignment ended" to mean the offer its chain holds now.
        current = (
            DispatchChain.objects.filter(running_pk=event.object_pk)
            .values_list("attempt", flat=True)
            .first()
        )
        if current is not None:
            event.attempt = current
            advance(model, event)

    monkeypatch.setattr(steps, "advance", replayed)
    problems, _ = cascade(drivers)
    assert problems, "the checker missed steps taken on stale endings"
