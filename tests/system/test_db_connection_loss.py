"""Scenario 3: the sweep's PostgreSQL connection is terminated mid-batch.

A scheduler process (``expire_assignments --loop``) starts a batch. To catch
it deterministically inside the batch, another transaction holds an
uncommitted ``expired`` event for one of the due rows: the sweep's single
statement has then locked and reset every due row and waits on the unique
index for that transaction to end. The test sees this in ``pg_locks``,
terminates the sweeper's backend with ``pg_terminate_backend``, and checks
that the batch rolled back whole, that the same process sweeps again without
a restart, and that every offer ends expired exactly once.
"""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout.models import AssignmentEvent
from tests.conftest import make_due
from tests.system.conftest import pg_connect, wait_for
from tests.system.invariants import violations
from tests.testapp.models import Driver, StockRequest

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

OFFERS = 300
APP_NAME = "system-sweeper"


def sweeper_waiting(controller, app_name=APP_NAME):
    """The pid of ``app_name``'s backend while it waits, mid-statement, on
    another transaction (the blocker) and holds its own row locks; else None."""
    row = controller.execute(
        """
        SELECT a.pid FROM pg_stat_activity a
        JOIN pg_locks waiting ON waiting.pid = a.pid AND NOT waiting.granted
             AND waiting.locktype = 'transactionid'
        WHERE a.application_name = %s AND a.state = 'active'
          AND a.query LIKE 'WITH due%%'
          AND EXISTS (SELECT 1 FROM pg_locks held WHERE held.pid = a.pid
                      AND held.granted AND held.locktype = 'relation'
                      AND held.mode = 'RowExclusiveLock'
                      AND held.relation = %s::regclass)
        """,
        [app_name, StockRequest._meta.db_table],
    ).fetchone()
    return row[0] if row else None


def test_sweep_connection_terminated_mid_batch(children):
    driver = Driver.objects.create(name="Ravi")
    pks = [StockRequest.objects.create().pk for _ in range(OFFERS)]
    for pk in pks:
        StockRequest.objects.offer(pk, driver)
    sweeper = children.django(
        "sweeper",
        "expire_assignments",
        "--loop",
        "--interval=2",
        "--batch-size=1000",
        SYSTEM_APP_NAME=APP_NAME,
    )
    wait_for(lambda: "sweeping every" in sweeper.stdout(), timeout=30, what="the loop")

    content_type = ContentType.objects.get_for_model(StockRequest)
    blocker = pg_connect(autocommit=False)
    controller = pg_connect()
    try:
        # An uncommitted event for the last row due: the sweep's INSERT of the
        # same (assignment, attempt, kind) must wait for this transaction.
        blocker.execute(
            f"INSERT INTO {AssignmentEvent._meta.db_table} "
            "(content_type_id, object_pk, attempt, kind, assignee_pk) "
            "VALUES (%s, %s, 1, 'expired', NULL)",
            [content_type.pk, str(pks[-1])],
        )
        make_due(StockRequest)
        pid = wait_for(
            lambda: sweeper_waiting(controller),
            timeout=30,
            what="the sweeper mid-batch",
        )
        assert controller.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[
            0
        ]
        wait_for(
            lambda: (
                not controller.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
                ).fetchone()
            ),
            timeout=10,
            what="the backend to end",
        )
        # Rolled back whole: every row is still offered, no expiry is
        # recorded, and no row lock survived the terminated transaction.
        with controller.transaction():
            locked = controller.execute(
                f"SELECT id FROM {StockRequest._meta.db_table} "
                "WHERE status = 'ASSIGNING' FOR UPDATE NOWAIT"
            ).fetchall()
        assert len(locked) == OFFERS
        assert AssignmentEvent.objects.filter(kind="expired").count() == 0
        blocker.rollback()
    finally:
        blocker.close()
        controller.close()

    # The same process, without a restart, completes the work at its next tick.
    wait_for(
        lambda: not StockRequest.objects.filter(status="ASSIGNING").exists(),
        timeout=30,
        what="the next sweep",
    )
    # It reports the run after the commit, so its line may follow a moment later.
    wait_for(
        lambda: f"expired {OFFERS} in" in sweeper.stdout(),
        timeout=10,
        what="the sweeper's report",
    )
    assert sweeper.alive()
    assert "Sweep failed" in sweeper.stderr()
    assert AssignmentEvent.objects.filter(kind="expired").count() == OFFERS
    assert violations(StockRequest) == []
