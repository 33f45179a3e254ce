"""The two commands' ``--loop`` modes in this process, and the relay command's options.

A loop runs in the main thread (signal handlers can only be installed
there) while a helper thread watches its output and sends SIGTERM to this
process once the loop has done what the test waits for. The loops must then
return, restore the signal handlers they replaced, and have survived every
failed run on the way.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import override_settings

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifiers import locmem
from django_assignment_timeout.testing import make_due
from tests.support.polling import wait_for
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

#: Not a dict: loading the notifiers fails with a ConfigurationError.
BROKEN_NOTIFIERS = ["not", "a", "dict"]
#: Every loop in this module must be done well within this.
LIMIT = 30.0


class StopWhen(threading.Thread):
    """Sends SIGTERM to this process once ``condition()`` holds (or after LIMIT)."""

    def __init__(self, condition):
        super().__init__(daemon=True)
        self.condition = condition
        self.met = False

    def run(self):
        try:
            self.met = bool(wait_for(self.condition, LIMIT, interval=0.02))
        except AssertionError:
            pass  # not met: the loop is stopped all the same, and the test fails
        finally:
            os.kill(os.getpid(), signal.SIGTERM)


def run_loop(command, *args, until):
    """Run ``command --loop`` until ``until(stdout, stderr)``; return both."""
    out, err = StringIO(), StringIO()
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    stopper = StopWhen(lambda: until(out.getvalue(), err.getvalue()))
    stopper.start()
    call_command(command, "--loop", *args, stdout=out, stderr=err)
    stopper.join(5)
    assert stopper.met, (out.getvalue(), err.getvalue())
    # The loop put back the handlers it replaced.
    assert {s: signal.getsignal(s) for s in before} == before
    return out.getvalue(), err.getvalue()


def test_relay_loop_delivers_then_stops_on_sigterm():
    request, driver = StockRequest.objects.create(), Driver.objects.create(name="R")
    request.offer(driver)
    _out, _err = run_loop(
        "deliver_assignment_events",
        "--interval",
        "0.05",
        until=lambda out, err: "delivered 1," in out,
    )
    assert [n.recipients for n in locmem.outbox] == [(driver,)]
    assert AssignmentEvent.objects.get().delivery_state == DeliveryState.DELIVERED


def test_relay_loop_survives_failed_runs():
    request, driver = StockRequest.objects.create(), Driver.objects.create(name="R")
    request.offer(driver)
    with override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS=BROKEN_NOTIFIERS):
        _out, err = run_loop(
            "deliver_assignment_events",
            "--interval",
            "0.05",
            until=lambda out, err: err.count("Delivery failed") >= 2,
        )
    assert "ASSIGNMENT_TIMEOUT_NOTIFIERS must be a dict" in err
    # Nothing was claimed while the notifiers could not be loaded.
    event = AssignmentEvent.objects.get()
    assert (event.delivery_state, event.delivery_attempts) == (DeliveryState.PENDING, 0)


def test_relay_once_with_broken_notifiers_is_a_command_error():
    with (
        override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS=BROKEN_NOTIFIERS),
        pytest.raises(CommandError, match=r"Delivery failed: .*must be a dict"),
    ):
        call_command("deliver_assignment_events", stdout=StringIO())


def test_relay_list_and_requeue_dead_events():
    driver = Driver.objects.create(name="R")
    first, second = StockRequest.objects.create(), StockRequest.objects.create()
    events = [first.offer(driver), second.offer(driver)]
    AssignmentEvent.objects.update(
        delivery_state=DeliveryState.DEAD,
        next_attempt_at=None,
        delivery_attempts=9,
        last_error="push: gone",
    )
    out = StringIO()
    call_command("deliver_assignment_events", "--list-dead", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "2 dead event(s)"
    assert lines[0] == (
        f"{events[0].pk}\ttestapp.stockrequest:{first.pk}\t#1\toffered"
        "\ttries=9\tpush: gone"
    )

    out = StringIO()
    call_command(
        "deliver_assignment_events", "--requeue-dead", str(events[1].pk), stdout=out
    )
    assert out.getvalue().strip() == "re-queued 1 dead event(s)"
    states = dict(AssignmentEvent.objects.values_list("pk", "delivery_state"))
    assert states == {
        events[0].pk: DeliveryState.DEAD,
        events[1].pk: DeliveryState.PENDING,
    }
    # The re-queued one is due at once, with fresh tries.
    assert deliver_pending().delivered == 1


def test_sweep_loop_survives_failed_sweeps_and_keeps_sweeping():
    driver = Driver.objects.create(name="R")
    for _ in range(3):
        StockRequest.objects.create().offer(driver)
    make_due(StockRequest)
    # The sweep itself needs no notifier; its delivery backstop fails and is
    # reported without failing the sweep.
    with override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS=BROKEN_NOTIFIERS):
        out, err = run_loop(
            "expire_assignments",
            "--interval",
            "0.05",
            "--verbosity",
            "2",  # an idle tick is printed only at -v 2: the next tick ran
            until=lambda out, err: out.count("expired 0 in") >= 1,
        )
    assert "testapp.StockRequest: 3 expired" in out
    assert "Notification delivery failed:" in err
    assert "received signal 15" in out
    assert out.rstrip().endswith("stopped")
    assert not StockRequest.objects.due().exists()


def test_sweep_loop_retries_a_misconfigured_sweep_at_the_next_tick():
    # MAX_BATCHES=0 (system check E014) makes every sweep a typed error.
    with override_settings(ASSIGNMENT_TIMEOUT_MAX_BATCHES=0):
        out, _err = run_loop(
            "expire_assignments",
            "--interval",
            "0.05",
            until=lambda out, err: err.count("Sweep failed: max_batches") >= 2,
        )
    assert "expired" not in out
    assert out.rstrip().endswith("stopped")


def rename_table(old, new):
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {connection.ops.quote_name(old)} "
            f"RENAME TO {connection.ops.quote_name(new)}"
        )


def test_sweep_loop_survives_a_database_error_and_sweeps_once_it_is_gone():
    driver = Driver.objects.create(name="R")
    for _ in range(2):
        StockRequest.objects.create().offer(driver)
    make_due(StockRequest)
    table = StockRequest._meta.db_table
    hidden = f"{table}_hidden"
    rename_table(table, hidden)  # every sweep now fails in the database
    restored = threading.Event()

    def until(out, err):
        # In the watcher thread: once a failed sweep was reported, bring the
        # table back (on the thread's own connection) and wait for the sweep.
        if not restored.is_set() and "Sweep failed: " in err:
            try:
                rename_table(hidden, table)
            finally:
                connection.close()
            restored.set()
        return restored.is_set() and "expired 2 in" in out

    try:
        out, err = run_loop("expire_assignments", "--interval", "0.05", until=until)
    finally:
        if not restored.is_set():
            rename_table(hidden, table)
    # The failure was a database error, not one of the library's own.
    assert "Error(" in err.splitlines()[0], err
    assert "testapp.StockRequest: 2 expired" in out
    assert not StockRequest.objects.due().exists()


def test_sweep_loop_does_not_wait_while_more_offers_are_due():
    driver = Driver.objects.create(name="R")
    for _ in range(3):
        StockRequest.objects.create().offer(driver)
    make_due(StockRequest)
    # One row per sweep, and an hour between sweeps unless more are due.
    with override_settings(ASSIGNMENT_TIMEOUT_MAX_BATCHES=1):
        out, _err = run_loop(
            "expire_assignments",
            "--batch-size",
            "1",
            "--interval",
            "3600",
            until=lambda out, err: out.count("testapp.StockRequest: 1 expired") == 3,
        )
    assert out.count("(more due)") >= 2
    assert not StockRequest.objects.due().exists()


def test_relay_loop_does_not_wait_while_more_events_are_due():
    driver = Driver.objects.create(name="R")
    for _ in range(3):
        StockRequest.objects.create().offer(driver)
    out, _err = run_loop(
        "deliver_assignment_events",
        "--batch-size",
        "1",
        "--max-batches",
        "1",
        "--interval",
        "3600",
        until=lambda out, err: out.count("delivered 1,") == 3,
    )
    assert out.count("(more due)") >= 2
    assert len(locmem.outbox) == 3


class Later:
    """Calls ``action`` once, ``delay`` seconds after the first check (in the watcher)."""

    def __init__(self, delay, action):
        self.delay, self.action, self.start, self.done = delay, action, None, False

    def __call__(self):
        now = time.monotonic()
        self.start = self.start or now
        if not self.done and now - self.start >= self.delay:
            try:
                self.action()
            finally:
                connection.close()  # the watcher thread's own connection
            self.done = True
        return self.done


def offer_one_due():
    StockRequest.objects.create().offer(Driver.objects.create(name="Late"))
    make_due(StockRequest)


@pytest.mark.parametrize("verbosity", ["1", "2"])
def test_sweep_loop_idle_ticks_are_quiet_unless_verbose(verbosity):
    """A demo used to print "expired 0 in 2 batch(es)" every tick."""
    # Idle ticks for 0.4 s (about eight of them), then an offer falls due.
    later = Later(0.4, offer_one_due)
    out, _err = run_loop(
        "expire_assignments",
        "--interval",
        "0.05",
        "--verbosity",
        verbosity,
        until=lambda out, err: later() and "StockRequest: 1 expired" in out,
    )
    idle = out.count("expired 0 in")
    if verbosity == "1":
        assert idle == 0, out
        lines = out.splitlines()
        assert lines[2].startswith("expired 1 in "), out
        assert lines[:2] + lines[3:] == [
            "sweeping every 0.05s; SIGTERM or SIGINT stops",
            "testapp.StockRequest: 1 expired",
            "received signal 15, finished the sweep in progress",
            "stopped",
        ]
    else:
        assert idle >= 2, out


@pytest.mark.parametrize("verbosity", ["1", "2"])
def test_relay_loop_idle_ticks_are_quiet_and_it_says_it_stopped(verbosity):
    """The relay loop printed every idle tick, and nothing when stopped."""
    StockRequest.objects.create().offer(Driver.objects.create(name="R"))
    delivered_at = []

    def until(out, err):
        if "delivered 1," in out and not delivered_at:
            delivered_at.append(time.monotonic())
        # Then about eight idle ticks.
        return bool(delivered_at) and time.monotonic() - delivered_at[0] > 0.4

    out, _err = run_loop(
        "deliver_assignment_events",
        "--interval",
        "0.05",
        "--verbosity",
        verbosity,
        until=until,
    )
    lines = out.splitlines()
    assert lines[0] == "delivering every 0.05s; SIGTERM or SIGINT stops"
    assert lines[-2:] == [
        "received signal 15, finished the delivery in progress",
        "stopped",
    ]
    idle = out.count("delivered 0, retrying 0, dead 0")
    assert idle == 0 if verbosity == "1" else idle >= 2, out
    assert "delivered 1, retrying 0, dead 0" in lines


def test_the_sweep_loop_reads_a_string_interval_setting():
    """ "0.05" passes check E011, so the loop runs with it (it used to raise TypeError)."""
    with override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL="0.05"):
        out, _err = run_loop(
            "expire_assignments",
            "-v",
            "2",
            until=lambda out, err: out.count("expired 0 in") >= 3,
        )
    assert out.splitlines()[0] == "sweeping every 0.05s; SIGTERM or SIGINT stops"


@pytest.mark.parametrize(
    "args",
    [
        ["--list-dead", "--requeue-dead"],
        ["--list-dead", "--loop"],
        ["--requeue-dead", "7", "--loop"],
    ],
)
def test_relay_modes_are_refused_together(args):
    """--list-dead --requeue-dead used to list and silently not re-queue."""
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("deliver_assignment_events", *args, stdout=StringIO())
