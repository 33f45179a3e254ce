"""Scenario 2: a Celery worker is killed with SIGKILL mid sweep batch and mid
delivery batch.

Real workers (``celery worker --beat``, thread pool) on a private Redis run
the library's beat sweep and notification relay against the test database.

* Mid sweep: an uncommitted ``expired`` event of another transaction makes
  the worker's one-statement batch wait, with every due row already locked
  and reset; the test sees that in ``pg_locks`` and kills the worker. No row
  may be expired (nor any event written) by the dead batch.
* Mid delivery: the notifier hangs halfway through its first batch (after
  recording half of its sends in a file); the test kills that worker. No
  event of the batch may be marked delivered.

A third worker then completes everything: every offer expired once, every
``expired`` event delivered, and only the half-sent batch sent twice: at most
one duplicate per notification per crash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.testing import make_due
from tests.support.polling import wait_for
from tests.system.conftest import (
    backend_gone,
    block_expired_event,
    pg_connect,
    start_worker,
    sweeper_waiting,
    worker_settings,
)
from tests.system.invariants import violations
from tests.system.notifiers import sends
from tests.testapp.models import Driver, StockRequest

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    # Above the global timeout: its waits on the workers add up to 240 s.
    pytest.mark.timeout(600),
]

OFFERS = 200


def _worker_settings(tmp_path: Path) -> dict:
    return {
        **worker_settings(tmp_path / "sends.log", hang_once=str(tmp_path / "hanging")),
        "ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE": 100,
        # A killed relay's claim runs out quickly, so the test need not wait.
        "ASSIGNMENT_TIMEOUT_DELIVERY_LEASE": 3.0,
        "ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": 1.0,
    }


def test_worker_killed_mid_sweep_and_mid_delivery(children, own_redis, tmp_path):
    settings = _worker_settings(tmp_path)
    driver = Driver.objects.create(name="Ravi")
    pks = [StockRequest.objects.create().pk for _ in range(OFFERS)]
    for pk in pks:
        StockRequest.objects.offer(pk, driver)
    # The offers' own notifications go out first (this process, locmem).
    deliver_pending()
    assert not AssignmentEvent.objects.undelivered().exists()

    # -- crash 1: mid sweep batch -------------------------------------------
    blocker = pg_connect(autocommit=False)
    controller = pg_connect()
    try:
        block_expired_event(blocker, StockRequest, pks[-1])
        make_due(StockRequest)
        first = start_worker(children, "worker-1", own_redis.url, settings)
        pid = wait_for(
            lambda: sweeper_waiting(controller, "worker-1", StockRequest),
            timeout=60,
            what="worker-1 inside its sweep batch",
        )
        first.crash()
        blocker.rollback()
        wait_for(
            lambda: backend_gone(controller, pid),
            timeout=30,
            what="the killed worker's backend to end",
        )
    finally:
        blocker.close()
        controller.close()
    # Nothing of the killed batch is left: no row reset, no event written.
    assert StockRequest.objects.filter(status="ASSIGNING").count() == OFFERS
    assert not AssignmentEvent.objects.filter(kind="expired").exists()

    # -- crash 2: mid delivery batch ------------------------------------------
    second = start_worker(children, "worker-2", own_redis.url, settings)
    wait_for(
        lambda: (tmp_path / "hanging").exists(),
        timeout=60,
        what="worker-2 halfway through a delivery batch",
    )
    second.crash()
    sent_before_crash = sends(str(tmp_path / "sends.log"))
    expired = AssignmentEvent.objects.filter(kind="expired")
    # The sweep before the delivery committed whole.
    assert expired.count() == OFFERS
    # Other relay threads may have finished their batches; the hung batch was
    # claimed (attempt counted) but recorded nothing, though half was sent.
    delivered = set(
        expired.filter(delivery_state=DeliveryState.DELIVERED).values_list(
            "pk", flat=True
        )
    )
    claimed = set(
        expired.filter(
            delivery_state=DeliveryState.PENDING, delivery_attempts__gte=1
        ).values_list("pk", flat=True)
    )
    half_sent = set(sent_before_crash) - delivered
    assert delivered <= set(sent_before_crash)
    assert half_sent
    assert half_sent <= claimed
    assert len(half_sent) < len(claimed)

    # -- recovery: the next worker completes everything ------------------------
    start_worker(children, "worker-3", own_redis.url, settings)
    wait_for(
        lambda: not AssignmentEvent.objects.undelivered().exists(),
        timeout=90,
        what="every event delivered",
    )
    counts = sends(str(tmp_path / "sends.log"))
    expired_ids = set(
        AssignmentEvent.objects.filter(kind="expired").values_list("pk", flat=True)
    )
    lost = expired_ids - set(counts)
    duplicated = {event_id: n - 1 for event_id, n in counts.items() if n > 1}
    figures = {
        "offers": OFFERS,
        "crashes": 2,
        "expired": len(expired_ids),
        "lost": len(lost),
        "duplicated": sum(duplicated.values()),
        "sent_by_killed_batch": len(half_sent),
        "max_sends_per_event": max(counts.values()),
    }
    print(json.dumps(figures))
    assert lost == set()
    assert set(counts) == expired_ids
    # Only the half-sent batch of the killed relay went out twice.
    assert set(duplicated) <= half_sent
    assert max(counts.values()) <= 2
    assert violations(StockRequest) == []
    assert not AssignmentEvent.objects.dead().exists()
