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

from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.testing import make_due
from tests.support.polling import wait_for
from tests.system.conftest import (
    backend_gone,
    block_expired_event,
    pg_connect,
    sweeper_waiting,
)
from tests.system.invariants import violations
from tests.testapp.models import Driver, StockRequest

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

OFFERS = 300
APP_NAME = "system-sweeper"


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
        app_name=APP_NAME,
    )
    wait_for(lambda: "sweeping every" in sweeper.stdout(), timeout=30, what="the loop")

    blocker = pg_connect(autocommit=False)
    controller = pg_connect()
    try:
        # An uncommitted event for the last row due: the sweep's INSERT of the
        # same (assignment, attempt, kind) must wait for this transaction.
        block_expired_event(blocker, StockRequest, pks[-1])
        make_due(StockRequest)
        pid = wait_for(
            lambda: sweeper_waiting(controller, APP_NAME, StockRequest),
            timeout=30,
            what="the sweeper mid-batch",
        )
        assert controller.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[
            0
        ]
        wait_for(
            lambda: backend_gone(controller, pid),
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
