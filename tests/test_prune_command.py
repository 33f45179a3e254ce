"""``manage.py prune_assignment_events``: its arguments, its output, its lock time.

The lock test runs the command over 20,000 old events while another
connection keeps locking and writing event rows (the ones being pruned, the
outbox's pending ones, and new ones, as relays and sweeps do). No write may
wait longer than a bound and no batch may last longer than one; a control
run holds one long transaction instead, to show the writer's clock sees a
wait when there is one.
"""

from __future__ import annotations

import random
import re
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.models import F

from django_assignment_timeout.models import AssignmentEvent
from tests.support.polling import wait_for
from tests.support.retention import events, make_old
from tests.test_races import lock_waiters
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db

#: Seconds no batch and no concurrent write may exceed. A batch of 1,000
#: takes tens of milliseconds here (see the retention guide); the bound
#: leaves room for two shared cores, and is far below a whole-table delete
#: under load or InnoDB's 50 s lock wait.
BOUND = 2.0
WAIT = 60  # seconds: handshakes; never reached when all is well


def prune(*args, verbosity=1):
    out = StringIO()
    call_command("prune_assignment_events", *args, verbosity=verbosity, stdout=out)
    return out.getvalue()


def count():
    return AssignmentEvent.objects.count()


# -- arguments and output --------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "kept_days"),
    [
        ("90d", 89),
        ("2160h", 89),
        ("129600m", 89),
        (str(90 * 86400), 89),
        ("7776000s", 89),
    ],
)
def test_older_than_takes_units_and_seconds(age, kept_days):
    events(Driver, range(3), days=91)
    young = events(Driver, range(3, 5), days=kept_days)
    output = prune("--older-than", age)
    assert set(AssignmentEvent.objects.values_list("pk", flat=True)) == set(young)
    assert output.startswith("deleted 3 event(s) created before ")
    assert "in 1 batch(es); kept 0 of open offers" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "90x"], "--older-than must be a duration such as 90d"),
        (["--older-than", ""], "--older-than must be a duration"),
        (["--older-than=-5d"], "--older-than must be a duration"),
        (["--older-than", "0"], "--older-than must be a positive number of seconds"),
        (["--older-than", "99999d"], "at most"),
        (
            ["--older-than", "9d", "--batch-size", "0"],
            "--batch-size must be a positive",
        ),
        (["--older-than", "9d", "--max-batches", "-1"], "--max-batches must be"),
        (["--older-than", "9d", "--database", "nope"], "Prune failed: No database"),
        ([], "the following arguments are required: --older-than"),
    ],
)
def test_bad_input_is_a_command_error_and_changes_nothing(args, message):
    events(Driver, range(2))
    with pytest.raises(CommandError, match=re.escape(message)):
        prune(*args)
    assert count() == 2


def test_dry_run_reports_and_changes_nothing():
    events(Driver, range(5))
    output = prune("--older-than", "90d", "--dry-run", "--batch-size", "2")
    assert output.startswith("would delete 5 event(s)")
    assert output.rstrip().endswith("(dry run, nothing changed)")
    assert count() == 5


def test_verbosity_2_shows_each_batch(driver):
    row = StockRequest.objects.create()
    row.offer(driver)
    AssignmentEvent.objects.update(delivery_state="delivered", next_attempt_at=None)
    make_old(AssignmentEvent.objects.all())
    events(Driver, range(5))
    output = prune("--older-than", "90d", "--batch-size", "2", verbosity=2)
    lines = output.splitlines()
    batches = [re.sub(r"\(\d+ ms\)", "(ms)", line) for line in lines[:-1]]
    assert batches == [
        "batch 1: deleted 1, kept 1 of open offers (ms)",
        "batch 2: deleted 2, kept 0 of open offers (ms)",
        "batch 3: deleted 2, kept 0 of open offers (ms)",
    ]
    assert lines[-1].endswith("in 3 batch(es); kept 1 of open offers")
    assert count() == 1


def test_max_batches_and_include_dead():
    events(Driver, range(3), state="dead")
    events(Driver, range(3, 6))
    output = prune("--older-than", "90d", "--batch-size", "2", "--max-batches", "1")
    assert output.startswith("deleted 2 ") and "(more left)" in output
    assert count() == 4
    prune("--older-than", "90d")
    assert count() == 3  # the dead letters
    prune("--older-than", "90d", "--include-dead")
    assert count() == 0


# -- bounded lock time, on real concurrent connections ---------------------------


class Writer(threading.Thread):
    """Locks and writes event rows on its own connection until told to stop.

    Each operation is timed from its start to its commit: a wait for a lock
    the pruner holds shows as a long operation.
    """

    def __init__(self, old_ids, pending_ids):
        super().__init__(daemon=True)
        self.old_ids, self.pending_ids = old_ids, pending_ids
        self.stop = threading.Event()
        self.longest = 0.0
        self.ops = 0
        self.error = None
        self.random = random.Random(17)

    def run(self):
        try:
            with connection.cursor() as cursor:  # never wait forever
                if connection.vendor == "postgresql":
                    cursor.execute("SET lock_timeout = '20s'")
                else:
                    cursor.execute("SET SESSION innodb_lock_wait_timeout = 20")
            while not self.stop.is_set():
                started = time.monotonic()
                self.one_operation(self.ops % 3)
                self.longest = max(self.longest, time.monotonic() - started)
                self.ops += 1
        except BaseException as err:
            self.error = err
        finally:
            connections.close_all()

    def one_operation(self, which):
        with transaction.atomic():
            if which == 0:  # lock a row the pruner wants, as an admin action might
                pk = self.random.choice(self.old_ids)
                locked = AssignmentEvent.objects.select_for_update().filter(pk=pk)
                locked.update(last_error="touched")
            elif which == 1:  # a relay recording an attempt on the outbox
                pk = self.random.choice(self.pending_ids)
                AssignmentEvent.objects.filter(pk=pk).update(
                    delivery_attempts=F("delivery_attempts") + 1
                )
            else:  # a sweep writing a new event
                events(Driver, [self.ops], attempt=1 + self.ops, days=0)

    def finish(self):
        self.stop.set()
        self.join(WAIT)
        assert not self.is_alive(), "the writer did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def crowded(driver):
    """20,000 old delivered events, 300 old pending ones, 50 open offers."""
    old = events(Driver, range(20_000))
    pending = events(Driver, range(20_000, 20_300), state="pending")
    rows = [StockRequest.objects.create() for _ in range(50)]
    for row in rows:
        row.offer(driver)
    offered = AssignmentEvent.objects.filter(kind="offered", attempt=1).exclude(
        pk__in=old + pending
    )
    offered.update(delivery_state="delivered", next_attempt_at=None)
    make_old(offered)
    return old, pending, list(offered.values_list("pk", flat=True))


@pytest.mark.not_sqlite
@pytest.mark.django_db(transaction=True)
def test_batches_hold_locks_for_bounded_time_under_concurrent_writes(crowded):
    old, pending, open_offers = crowded
    writer = Writer(old, pending)
    writer.start()
    try:
        wait_for(lambda: writer.ops >= 30 or writer.error, WAIT, "the writer running")
        ops_before, started = writer.ops, time.monotonic()
        output = prune("--older-than", "90d", "--batch-size", "1000", verbosity=2)
        took = time.monotonic() - started
        ops_during = writer.ops - ops_before
    finally:
        writer.finish()

    batch_ms = [int(ms) for ms in re.findall(r"\((\d+) ms\)", output)]
    print(
        f"{connection.vendor}: {len(batch_ms)} batches in {took:.2f}s, longest "
        f"batch {max(batch_ms)} ms, {ops_during} writes meanwhile, longest write "
        f"{writer.longest * 1000:.0f} ms"
    )
    assert len(batch_ms) >= 20
    assert max(batch_ms) < BOUND * 1000
    assert writer.longest < BOUND
    assert ops_during >= 20, "the writer did not run alongside the prune"
    # Nothing it must keep is gone; of the old rows, at most those the writer
    # held at the moment (skipped, not waited for) are left.
    assert AssignmentEvent.objects.filter(pk__in=pending).count() == len(pending)
    assert AssignmentEvent.objects.filter(pk__in=open_offers).count() == 50
    assert AssignmentEvent.objects.filter(pk__in=old).count() <= 5
    prune("--older-than", "90d")
    assert not AssignmentEvent.objects.filter(pk__in=old).exists()


@pytest.mark.not_sqlite
@pytest.mark.django_db(transaction=True)
def test_the_writer_measures_a_wait_behind_one_long_transaction(crowded):
    # The control: one transaction over every old row (what batching avoids),
    # held until the writer is seen waiting. The writer's clock must show it.
    old, pending, _open = crowded
    writer = Writer(old[:50], pending)
    with transaction.atomic():
        AssignmentEvent.objects.filter(pk__in=old).select_for_update().update(
            last_error="held"
        )
        writer.start()
        held = time.monotonic()
        seen = []

        def waiting():
            assert writer.is_alive(), writer.error
            if connection.vendor == "postgresql":
                # Inside a transaction PostgreSQL keeps one statistics snapshot.
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_stat_clear_snapshot()")
            seen.append(lock_waiters() > 0)
            return seen[-3:] == [True] * 3

        wait_for(waiting, WAIT, "the writer waiting for the lock", interval=0.01)
        held = time.monotonic() - held
    writer.finish()
    assert writer.longest >= held * 0.5 > 0


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_skipped_and_the_run_goes_on(driver):
    """A locked row makes its batch short; the run must not take that for the
    end of the old rows (it once did, and stopped with most of them left).

    PostgreSQL only: on a table this small InnoDB plans the batch's DELETE
    as a full scan and waits for the held row (a long-held row makes a
    MariaDB prune wait; the concurrent-writer test bounds the short holds)."""
    old = events(Driver, range(50))
    held = threading.Event()
    release = threading.Event()

    def hold_one():
        try:
            with transaction.atomic():
                list(AssignmentEvent.objects.select_for_update().filter(pk=old[3]))
                held.set()
                release.wait(WAIT)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_one)
    holder.start()
    try:
        assert held.wait(WAIT)
        output = prune("--older-than", "90d", "--batch-size", "10", verbosity=2)
    finally:
        release.set()
        holder.join(WAIT)
    assert len(re.findall(r"\((\d+) ms\)", output)) == 5, output
    assert list(
        AssignmentEvent.objects.filter(pk__in=old).values_list("pk", flat=True)
    ) == [old[3]]
    prune("--older-than", "90d")
    assert not AssignmentEvent.objects.filter(pk__in=old).exists()
