"""The deadline-aware loop: how long it sleeps, what an idle wake costs, what wakes it.

The sleep is computed from the database (the next deadline, the next event
due) and capped by the interval; where nothing can wake the loop (SQLite,
MariaDB) it probes on ``ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL``, on
PostgreSQL a commit wakes it (``tests/test_wakeup_postgresql.py``). The
loops in child processes here run on whichever database the suite runs on,
with an interval far longer than the bounds they are held to.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from django_assignment_timeout.delivery import deliver_pending, next_attempt
from django_assignment_timeout.management.loop import (
    Pacing,
    Tick,
    run_until_stopped,
    seconds_to_sleep,
)
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.options import assignment_models
from django_assignment_timeout.sweep import next_deadline, sweep
from django_assignment_timeout.testing import make_due
from tests.support.polling import wait_for
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

#: The loops' interval: any bound below is far inside it.
INTERVAL = "30"
#: How soon a woken loop must have delivered an offer's event / expired it.
BOUND = 5.0


def stop_this_process():
    # The loop runs in this (main) thread; its handler records the signal
    # and the loop returns once the running step ends.
    os.kill(os.getpid(), signal.SIGTERM)


# -- the sleep ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "cap", "expected"),
    [
        (None, 30.0, 30.0),  # nothing scheduled: the whole interval
        (5.0, 30.0, 5.0),  # until the deadline
        (45.0, 30.0, 30.0),  # capped by the interval
        (0.0, 30.0, 0.0),  # due now
        (-3.0, 30.0, 0.0),  # overdue: never negative
        (5.0, -1.0, 0.0),  # the interval already passed
        (None, -1.0, 0.0),
    ],
)
def test_seconds_to_sleep(until, cap, expected):
    assert seconds_to_sleep(until, cap) == expected


def test_next_deadline_is_the_earliest_open_deadline_on_the_database_clock(driver):
    assert next_deadline([StockRequest]) is None
    later, sooner = StockRequest.objects.create(), StockRequest.objects.create()
    later.offer(driver, timeout=300)
    sooner.offer(driver, timeout=120)
    assert 100 < next_deadline([StockRequest]) <= 120
    make_due(StockRequest, sooner.pk, seconds_ago=5)
    assert -60 < next_deadline([StockRequest]) <= -5
    # An ended offer's deadline is gone: the next one is the later offer's.
    assert sweep([StockRequest]).expired_count == 1
    assert 280 < next_deadline([StockRequest]) <= 300


def test_next_deadline_covers_every_model_by_default(driver):
    StockRequest.objects.create().offer(driver, timeout=300)
    user = get_user_model().objects.create(username="u")
    Ticket.objects.create().offer(user, timeout=60)
    assert 40 < next_deadline() <= 60
    assert 280 < next_deadline([StockRequest]) <= 300


def test_next_deadline_is_one_query_per_model(driver):
    StockRequest.objects.create().offer(driver)
    with CaptureQueriesContext(connection) as one:
        next_deadline([StockRequest])
    assert len(one) == 1
    with CaptureQueriesContext(connection) as every:
        next_deadline()
    assert len(every) == len(assignment_models()) > 1


def test_next_attempt_is_the_next_event_due_in_one_query(driver):
    assert next_attempt() is None
    StockRequest.objects.create().offer(driver)
    with CaptureQueriesContext(connection) as queries:
        assert next_attempt() <= 0  # a new event is due at once
    assert len(queries) == 1
    assert deliver_pending().delivered == 1
    assert next_attempt() is None


# -- the loop, in this process --------------------------------------------------


def test_an_idle_wake_costs_one_query(driver):
    StockRequest.objects.create().offer(driver, timeout=300)
    deliver_pending()
    ticks, probes = [], []

    def probe():
        probes.append(next_deadline([StockRequest]))
        if len(probes) == 5:
            stop_this_process()
        return probes[-1]

    with CaptureQueriesContext(connection) as queries:
        run_until_stopped(
            lambda: ticks.append(1) or False,
            float(INTERVAL),
            on_error=pytest.fail,
            pacing=Pacing(probe, probe_interval=0.01),
        )
    # One tick at the start, then a wake each 0.01 s: a query each.
    assert ticks == [1]
    assert len(probes) == 5
    assert all(280 < seconds <= 300 for seconds in probes)
    # (MySQL's session set-up, when the tick reconnected, is not a wake's.)
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET ")
    ]
    assert len(statements) == 5, statements


def test_work_still_due_after_a_tick_is_retried_with_a_doubling_delay():
    started = []

    def tick():
        started.append(time.monotonic())
        if len(started) == 5:
            stop_this_process()
        return False

    # Always due, as when another sweeper holds the rows or the notifiers
    # can not load: no busy loop.
    run_until_stopped(
        tick,
        0.3,
        on_error=pytest.fail,
        pacing=Pacing(lambda: -1.0, probe_interval=0.02),
    )
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert len(gaps) == 4
    for doubling, gap in enumerate(gaps):
        assert gap >= 0.95 * min(0.02 * 2**doubling, 0.3), gaps


def test_work_due_after_a_tick_that_did_work_is_taken_at_once():
    started = []

    def tick():
        started.append(time.monotonic())
        if len(started) == 4:
            stop_this_process()
        # Expired or delivered something: what is due now arrived meanwhile.
        return Tick.WORKED

    run_until_stopped(
        tick, 30.0, on_error=pytest.fail, pacing=Pacing(lambda: -1.0, probe_interval=5)
    )
    gaps = [b - a for a, b in itertools.pairwise(started)]
    # No back-off (5 s, then 10 s) between them.
    assert max(gaps) < 1.0, gaps


def test_a_deadline_passed_during_an_idle_tick_is_taken_at_once():
    started = []
    falls_due = []

    def tick():
        started.append(time.monotonic())
        if len(started) == 3:
            stop_this_process()
        # An idle tick (nothing was due when it looked) during which the next
        # deadline passes, as when a wake for an offer's delivery comes just
        # before the previous offer's deadline.
        time.sleep(0.05)
        falls_due.append(time.monotonic() - 0.01)
        return Tick.IDLE

    def probe():
        return falls_due[-1] - time.monotonic() if falls_due else None

    run_until_stopped(
        tick, 30.0, on_error=pytest.fail, pacing=Pacing(probe, probe_interval=5)
    )
    gaps = [b - a for a, b in itertools.pairwise(started)]
    # Not the back-off (5 s, a probe interval): the deadline is new work.
    assert max(gaps) < 1.0, gaps


def test_a_failing_probe_is_reported_and_the_loop_goes_on():
    errors, ticks = [], []

    def probe():
        raise RuntimeError("the database went away")

    def tick():
        ticks.append(1)
        if len(ticks) == 3:
            stop_this_process()
        return False

    run_until_stopped(tick, 0.02, on_error=errors.append, pacing=Pacing(probe))
    assert len(ticks) == 3
    assert [str(e) for e in errors] == ["the database went away"] * 2


# -- the commands' loops, in child processes ------------------------------------


def probe_interval():
    """The child's probe cadence: on PostgreSQL as long as the interval, so
    that only a wake-up (NOTIFY) can explain a prompt answer."""
    return 30.0 if connection.vendor == "postgresql" else 0.25


def start_loop(children, *command):
    loop = children.django(
        "loop",
        *command,
        "--loop",
        "--interval",
        INTERVAL,
        settings={"ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL": probe_interval()},
    )
    wait_for(
        lambda: "every" in loop.stdout() or not loop.alive(), 60, "the loop to start"
    )
    assert loop.alive(), loop.report()
    return loop


def delivered(event):
    event.refresh_from_db()
    return event.delivery_state == DeliveryState.DELIVERED


def test_an_earlier_offer_wakes_the_sweep_loop(children, driver):
    later = StockRequest.objects.create()
    first = later.offer(driver, timeout=300)
    loop = start_loop(children, "expire_assignments")
    # Delivered at once (the first tick), then asleep until the 300 s
    # deadline, capped by the 30 s interval.
    wait_for(lambda: delivered(first), BOUND, "the first offer's push")

    sooner = StockRequest.objects.create()
    offered_at = time.monotonic()
    second = sooner.offer(driver, timeout=1)
    wait_for(lambda: delivered(second), BOUND, "the second offer's push")
    wait_for(
        lambda: AssignmentEvent.objects.filter(
            object_pk=str(sooner.pk), kind="expired"
        ).exists(),
        BOUND + 1,
        "the second offer's expiry",
    )
    # Expired at its deadline, well before the loop's interval would have.
    assert time.monotonic() - offered_at < BOUND + 1
    later.refresh_from_db()
    assert later.status == StockRequest.Status.ASSIGNING
    assert loop.alive(), loop.report()
    # The loop reports after its sweep committed, so the event can be seen
    # before the line is written.
    wait_for(lambda: "expired 1 in" in loop.stdout(), BOUND, "the loop's report")


def test_a_new_event_wakes_the_relay_loop(children, driver):
    loop = start_loop(children, "deliver_assignment_events")
    event = StockRequest.objects.create().offer(driver)
    wait_for(lambda: delivered(event), BOUND, "the offer's push")
    assert loop.alive(), loop.report()
    wait_for(lambda: "delivered 1," in loop.stdout(), BOUND, "the loop's report")


@pytest.mark.parametrize("command", ["expire_assignments", "deliver_assignment_events"])
def test_a_bad_probe_interval_is_refused_by_name(command):
    with (
        override_settings(ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL="often"),
        pytest.raises(CommandError, match="ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL"),
    ):
        call_command(command, "--loop", stdout=StringIO())
