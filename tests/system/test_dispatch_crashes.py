"""Crashes mid-chain: every chain completes, and no step is made twice.

A child process is killed with SIGKILL (``tests.support.chain_crash``) right
after its sweep's expiry commits, and another in the middle of a relay batch
after some of its steps committed. Then a fresh relay runs, as the next
sweeper would. The checker reads only the database (and the sends every
process recorded): each assignment was offered to each candidate once, in
order. A hand-written chain (an ``assignment_expired`` receiver offering the
next driver, what an adopter writes today) killed at the same point fails
the same checker: its step died with its process.
"""

from __future__ import annotations

import signal
from collections import defaultdict

import pytest

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.support.chain_crash import POOL
from tests.support.children import child_env, run_python
from tests.system.notifiers import sends
from tests.testapp.models import Driver, Job, StockRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

CHAINS = 30


@pytest.fixture
def drivers():
    return [Driver.objects.create(name=f"{POOL}{n}") for n in range(3)]


@pytest.fixture
def sends_log(tmp_path, settings):
    """Every process, this one too, records its sends in one file."""
    path = str(tmp_path / "sends")
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "default": {
            "BACKEND": "tests.system.notifiers.FileNotifier",
            "OPTIONS": {"path": path},
        }
    }
    return path


def crash(sends_log: str, *args: str) -> None:
    env = child_env(
        settings={
            "ASSIGNMENT_TIMEOUT_NOTIFIERS": {
                "default": {
                    "BACKEND": "tests.system.notifiers.FileNotifier",
                    "OPTIONS": {"path": sends_log},
                }
            }
        }
    )
    result = run_python("-m", "tests.support.chain_crash", *args, env=env, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def relay_until_done() -> None:
    """A fresh relay, once the dead process's claims have lapsed."""
    for _ in range(20):
        waiting = AssignmentEvent.objects.undelivered()
        if not waiting.exists():
            return
        # The lapsed claims, and the new offers' grace for the process that
        # made them to push them itself, are made due at once.
        waiting.update(next_attempt_at=deadline_in(-1))
        deliver_pending()


def offers_per_row(model) -> dict[str, list[tuple[int, str]]]:
    offers = defaultdict(list)
    for pk, attempt, assignee in AssignmentEvent.objects.filter(
        kind="offered"
    ).values_list("object_pk", "attempt", "assignee_pk"):
        offers[pk].append((attempt, assignee))
    return {
        str(pk): sorted(offers[str(pk)])
        for pk in model.objects.values_list("pk", flat=True)
    }


def chain_problems(model, drivers, offered: int) -> list[str]:
    """Each row offered to the first ``offered`` drivers, once each, in order."""
    expected = [(n + 1, str(d.pk)) for n, d in enumerate(drivers[:offered])]
    return [
        f"{pk}: offers {made}"
        for pk, made in offers_per_row(model).items()
        if made != expected
    ]


def start_chains() -> None:
    for job in Job.objects.bulk_create(Job(pool=POOL) for _ in range(CHAINS)):
        job.start_dispatch()


def delivered_once_or_twice(sends_log: str) -> list[str]:
    """Every event delivered; none sent more than once more for the crash.

    An offer's push goes out only while the offer is open, so only the
    expiries must each have been sent.
    """
    sent = sends(sends_log)
    problems = [
        f"event {pk} ({kind}) sent {sent.get(pk, 0)} times"
        for pk, kind in AssignmentEvent.objects.values_list("pk", "kind")
        if sent.get(pk, 0) > 2 or (kind == "expired" and not sent.get(pk))
    ]
    undelivered = AssignmentEvent.objects.undelivered().count()
    return problems + ([f"{undelivered} events undelivered"] if undelivered else [])


def test_a_sweeper_killed_right_after_its_expiry_commit_loses_no_step(
    drivers, sends_log
):
    start_chains()
    make_due(Job)
    crash(sends_log, "sweep-dies")
    assert Job.objects.filter(status="pending").count() == CHAINS  # committed
    relay_until_done()
    assert chain_problems(Job, drivers, offered=2) == []
    assert delivered_once_or_twice(sends_log) == []


def test_a_relay_killed_mid_batch_takes_each_step_once(drivers, sends_log):
    start_chains()
    make_due(Job)
    sweep([Job])
    crash(sends_log, "relay-dies-after", "10")
    # Ten steps committed, the rest of the batch was not taken, and nothing
    # of it was recorded as delivered.
    second = AssignmentEvent.objects.filter(kind="offered", attempt=2)
    assert second.count() == 10
    assert (
        AssignmentEvent.objects.filter(kind="expired").undelivered().count() == CHAINS
    )
    relay_until_done()
    assert chain_problems(Job, drivers, offered=2) == []
    assert delivered_once_or_twice(sends_log) == []


def test_the_checker_flags_a_hand_written_chain_killed_at_the_same_point(
    drivers, sends_log
):
    for row in StockRequest.objects.bulk_create(StockRequest() for _ in range(CHAINS)):
        StockRequest.objects.offer(row.pk, drivers[0])
    make_due(StockRequest)
    crash(sends_log, "sweep-dies", "--hand")
    relay_until_done()
    sweep([StockRequest])  # the next sweeper: nothing is due any more
    problems = chain_problems(StockRequest, drivers, offered=2)
    assert len(problems) == CHAINS, problems
