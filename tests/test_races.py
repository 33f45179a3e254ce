"""Concurrency: lock order, exactly-once expiry, and accept-at-the-deadline races.

Every test here uses real concurrent database connections (one per thread).
Handshakes are threading.Events and the database's own lock-wait view, never
sleeps. The race test's checker reads only the database, and a naive
read-check-save control run through the same harness must be flagged by it,
which shows the checker can fail.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction
from django.utils import timezone

from django_assignment_timeout import lifecycle
from django_assignment_timeout.exceptions import OfferExpired, TransitionError
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests import services
from tests.support.polling import wait_for
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30  # seconds: an upper bound for handshakes, never reached when all is well


class Worker(threading.Thread):
    """Runs ``fn`` on its own database connection and keeps its outcome."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as err:
            self.error = err
        finally:
            connections.close_all()

    def outcome(self):
        self.join(WAIT)
        assert not self.is_alive(), "worker did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def status(row):
    row.refresh_from_db()
    return row.status


def lock_waiters():
    """How many other sessions of this database wait for a row lock."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0]
        # InnoDB lists a transaction in innodb_trx only once it is registered;
        # a primary-key SELECT ... FOR UPDATE waits earlier, while the optimizer
        # reads the const row (processlist state "Statistics"). So on MariaDB a
        # waiter is a session still inside a locking statement on this database.
        cursor.execute(
            "SELECT count(*) FROM information_schema.PROCESSLIST "
            "WHERE ID <> CONNECTION_ID() AND DB = DATABASE() AND COMMAND = 'Query' "
            "AND (INFO LIKE '%%FOR UPDATE%%' OR INFO LIKE 'UPDATE %%')"
        )
        return cursor.fetchone()[0]


def wait_for_lock_waiter(worker, polls=3):
    """Poll the database until a session waits for a row lock, ``polls`` polls running."""
    seen = 0

    def waiting():
        nonlocal seen
        # An accept that did not wait decided without the lock: say how.
        assert worker.is_alive(), f"it did not wait: {worker.error or worker.result!r}"
        seen = seen + 1 if lock_waiters() else 0
        return seen >= polls

    # Polling the database, not ordering by time.
    wait_for(waiting, WAIT, "somebody waiting for the lock", interval=0.005)


def set_lock_timeout(seconds):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET lock_timeout = '{int(seconds * 1000)}ms'")
        else:
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {int(seconds)}")


# -- lock order -----------------------------------------------------------------


@pytest.mark.not_sqlite
def test_the_sweep_skips_a_row_another_transaction_holds(driver):
    locked, free = offered_requests(driver, 2)
    make_due(StockRequest)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            list(StockRequest.objects.select_for_update().filter(pk=locked.pk))
            holding.set()
            release.wait(WAIT)

    holder = Worker(hold)
    holder.start()
    assert holding.wait(WAIT)
    # Without SKIP LOCKED the sweep would queue behind the holder: bound that
    # wait so the test fails with a lock timeout instead of hanging.
    set_lock_timeout(2)
    try:
        result = sweep([StockRequest])
    finally:
        release.set()
        holder.outcome()
    assert result.expired_count == 1
    assert (status(locked), status(free)) == ("ASSIGNING", "PENDING")
    assert sweep([StockRequest]).expired_count == 1  # the next sweep takes it
    assert status(locked) == "PENDING"


@pytest.mark.not_sqlite
@pytest.mark.parametrize("holder_commits", [True, False], ids=["commit", "rollback"])
def test_an_accept_waits_for_a_held_row_then_sees_the_committed_state(
    driver, holder_commits
):
    (row,) = offered_requests(driver, 1)
    holding, release = threading.Event(), threading.Event()

    class Rollback(Exception):
        pass

    def withdraw_and_hold():
        # A dispatcher withdrawing the offer, its transaction still open.
        try:
            with transaction.atomic():
                lifecycle.expire(StockRequest, row.pk, force=True)
                holding.set()
                release.wait(WAIT)
                if not holder_commits:
                    raise Rollback
        except Rollback:
            pass

    holder = Worker(withdraw_and_hold)
    holder.start()
    assert holding.wait(WAIT)
    accepter = Worker(lifecycle.accept, StockRequest, row.pk, driver)
    accepter.start()
    try:
        wait_for_lock_waiter(accepter)
        assert (
            accepter.is_alive()
        )  # it waits for the lock; it did not decide on stale data
    finally:
        release.set()
        holder.outcome()
    if holder_commits:
        with pytest.raises(OfferExpired):
            accepter.outcome()
        assert status(row) == "PENDING"
    else:
        assert accepter.outcome().kind == "accepted"
        assert status(row) == "ASSIGNED"


def test_concurrent_sweepers_expire_each_offer_exactly_once(driver):
    rows = offered_requests(driver, 40)
    for row in rows[:20]:  # a second attempt for half of them
        row.expire(force=True)
        row.offer(driver)
    make_due(StockRequest)
    start = threading.Barrier(4)

    def sweeper():
        start.wait(WAIT)
        total = 0
        while True:
            result = sweep([StockRequest], batch_size=3)
            total += result.expired_count
            if result.expired_count == 0:
                return total

    workers = [Worker(sweeper) for _ in range(4)]
    for worker in workers:
        worker.start()
    assert sum(worker.outcome() for worker in workers) == 40
    expired = AssignmentEvent.objects.filter(kind="expired")
    keys = list(expired.values_list("object_pk", "attempt"))
    assert len(keys) == len(set(keys)) == 60  # 20 forced + 40 swept
    assert not StockRequest.objects.exclude(status="PENDING").exists()


# -- accept at the deadline versus 4 sweepers --------------------------------------

# A sweeper is the real ``expire_assignments --loop`` in its own process (as
# in production, and so that it does not compete with the accepters for the
# GIL), pointed at the test database.
SWEEPER = [
    "expire_assignments",
    "--loop",
    "--interval",
    "0.003",
    "--model",
    "testapp.StockRequest",
    "--batch-size",
    "10",
]


@pytest.fixture
def sweepers(children):
    """Four sweeper processes; on exit they must stop cleanly on SIGTERM."""
    started = [
        # CONN_MAX_AGE None: no reconnect per tick.
        children.django(f"sweeper-{n}", *SWEEPER, database={"CONN_MAX_AGE": None})
        for n in range(SWEEPERS)
    ]

    def looping():
        # Each one prints this once its SIGTERM handler is installed.
        for sweeper in started:
            if "sweeping every" not in sweeper.output():
                assert sweeper.alive(), "sweeper did not start"
                return False
        return True

    try:
        wait_for(looping, 4 * WAIT, "the sweepers to loop")
        yield started
    finally:
        codes = [sweeper.stop(WAIT) for sweeper in started]
    outputs = [sweeper.output() for sweeper in started]
    for output in outputs:
        assert "failed" not in output.lower(), output
    assert codes == [0] * SWEEPERS, outputs


ROWS_PER_ROUND = 100
ACCEPTERS = 4
SWEEPERS = 4


@dataclass
class Audit:
    """What the database says happened to a set of offers."""

    accepted: int = 0
    expired: int = 0
    #: offers both accepted and expired
    both: int = 0
    #: accepts whose event is at or after the offer's deadline (database clock)
    late: int = 0
    #: expired offers without exactly one expired event, or a state that
    #: disagrees with the events
    bad_expiry: int = 0

    def violations(self):
        return self.both + self.late + self.bad_expiry

    def add(self, other):
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def audit(pks):
    content_type = ContentType.objects.get_for_model(StockRequest)
    events = defaultdict(lambda: defaultdict(list))
    for pk, attempt, kind, created_at, deadline in AssignmentEvent.objects.filter(
        content_type=content_type, object_pk__in=[str(pk) for pk in pks]
    ).values_list("object_pk", "attempt", "kind", "created_at", "deadline"):
        events[(int(pk), attempt)][kind].append((created_at, deadline))
    states = dict(StockRequest.objects.filter(pk__in=pks).values_list("pk", "status"))
    result = Audit()
    for pk in pks:
        kinds = events[(pk, 1)]
        ((_, deadline),) = kinds["offered"]
        accepted, expired = kinds["accepted"], kinds["expired"]
        result.accepted += bool(accepted)
        result.expired += bool(expired)
        result.both += bool(accepted and expired)
        result.late += sum(created_at >= deadline for created_at, _ in accepted)
        consistent = (states[pk] == "ASSIGNED" and accepted and not expired) or (
            states[pk] == "PENDING" and len(expired) == 1 and not accepted
        )
        result.bad_expiry += not consistent
    return result


def library_accept(pk, driver_pk):
    lifecycle.accept(StockRequest, pk, driver_pk)


def naive_accept(pk, driver_pk):
    """The hand-built way: read the row, check in Python, save()."""
    row = StockRequest.objects.get(pk=pk)
    if (
        row.status != "ASSIGNING"
        or row.target_driver_id != driver_pk
        or row.assignment_expires_at <= timezone.now()
    ):
        raise OfferExpired
    row.status = "ASSIGNED"
    row.assignment_expires_at = None
    row.save()
    AssignmentEvent.objects.create(
        content_type=ContentType.objects.get_for_model(StockRequest),
        object_pk=str(pk),
        attempt=row.assignment_attempt,
        kind="accepted",
        assignee_pk=str(driver_pk),
    )


def race_round(accept, driver):
    """ROWS_PER_ROUND races; returns the pks.

    Each accepter offers a row (the real offer, deadline on the database
    clock) with a timeout of a few ms, then accepts it at once, while the four
    sweeper processes sweep. The timeout is drawn around the accepter's own
    recent offer-to-accept time, so the deadline falls just before or just
    after the accept arrives however loaded the machine is.
    """
    rows = StockRequest.objects.bulk_create(
        StockRequest() for _ in range(ROWS_PER_ROUND)
    )
    if rows[0].pk is None:  # MySQL's bulk_create does not return keys
        rows = list(StockRequest.objects.order_by("-pk")[:ROWS_PER_ROUND])[::-1]
    start = threading.Barrier(ACCEPTERS + 1)
    errors = []

    def accepter(mine):
        rng = random.Random()
        spans = [0.01]
        connection.ensure_connection()
        start.wait(WAIT)
        for row in mine:
            typical = sorted(spans[-9:])[len(spans[-9:]) // 2]
            began = time.monotonic()
            lifecycle.offer(
                StockRequest, row.pk, driver, timeout=rng.uniform(0.1, 1.3) * typical
            )
            try:
                accept(row.pk, driver.pk)
            except TransitionError:
                pass
            except Exception as err:
                errors.append(err)
            spans.append(time.monotonic() - began)

    accepters = [Worker(accepter, rows[i::ACCEPTERS]) for i in range(ACCEPTERS)]
    for worker in accepters:
        worker.start()
    start.wait(WAIT)
    for worker in accepters:
        worker.outcome()
    # Let the sweepers take what is left (all deadlines are a few ms long).
    pks = [row.pk for row in rows]
    wait_for(
        lambda: (
            not StockRequest.objects.filter(pk__in=pks, status="ASSIGNING").exists()
        ),
        WAIT,
        "the sweepers to expire the rest",
        interval=0.005,
    )
    assert errors == []
    return pks


def test_accept_at_the_deadline_versus_four_sweepers(driver, sweepers):
    rounds = 4 if services.database() == "sqlite" else 20
    total = Audit()
    for _ in range(rounds):
        total.add(audit(race_round(library_accept, driver)))
    races = rounds * ROWS_PER_ROUND
    assert total.accepted + total.expired == races
    assert (total.both, total.late, total.bad_expiry) == (0, 0, 0)
    # The races were real: both outcomes happened, in numbers.
    assert total.accepted >= races // 20, total
    assert total.expired >= races // 20, total


def test_the_checker_flags_a_naive_read_check_save_accept(driver, sweepers):
    total = Audit()
    for _ in range(10):
        total.add(audit(race_round(naive_accept, driver)))
        if total.violations():
            break
    assert total.violations() > 0, total
