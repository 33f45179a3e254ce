"""Scenario 1: the broker dies for 20 s with 500 offers in flight.

A real Celery worker with embedded beat runs on a private redis-server (never
the shared one). The test process offers 500 assignments through the Celery
scheduler (one precise ETA task each, plus delivery triggers), accepts some,
then SIGKILLs Redis: no persistence, so every queued and reserved message is
gone. While it is down, more offers are accepted (their delivery triggers
fail and are only logged) and deadlines pass. Redis comes back empty after
20 s; beat's next sweep must repair everything: every offer that was not
accepted expired exactly once, every event delivered, none lost. (A worker
that dies of the broker loss is restarted, as a supervisor would, and
counted.)
"""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from tests.support import celery_app
from tests.support.polling import wait_for
from tests.system.conftest import start_worker, worker_settings
from tests.system.invariants import violations
from tests.system.notifiers import sends
from tests.testapp.models import Driver, StockRequest

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    # Above the global timeout: worker start, outage and recovery: up to 230 s.
    pytest.mark.timeout(600),
]

OFFERS = 500
OUTAGE = 20.0
# Long enough that most offers are still open when Redis dies, short enough
# that their deadlines pass during (or just after) the outage.
TIMEOUT = 30.0
CELERY = "django_assignment_timeout.schedulers.celery.CeleryScheduler"


def test_redis_killed_for_20s_with_500_offers_in_flight(
    children, own_redis, tmp_path, monkeypatch
):
    log = str(tmp_path / "sends.log")
    settings = {
        **worker_settings(tmp_path / "sends.log"),
        "ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": 2.0,
    }
    worker = start_worker(children, "worker", own_redis.url, settings)
    wait_for(lambda: " ready." in worker.stderr(), timeout=90, what="the worker")
    # This process publishes with its own app on the same broker; no publish
    # retries, so a trigger sent while Redis is down fails at once (and is
    # only logged: triggers are not truth).
    monkeypatch.setattr(
        celery_app,
        "producer",
        celery_app.make_app(own_redis.url, reconnect_forever=True),
        raising=False,
    )
    scheduler = {
        "BACKEND": CELERY,
        "OPTIONS": {"app": "tests.support.celery_app.producer", "retry": False},
    }
    drivers = [Driver.objects.create(name=f"driver {i}") for i in range(10)]
    pks = [StockRequest.objects.create().pk for _ in range(OFFERS)]
    with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=scheduler):
        began = time.monotonic()
        accepted = []
        for n, pk in enumerate(pks):
            StockRequest.objects.offer(pk, drivers[n % 10], timeout=TIMEOUT)
            if n % 5 == 0:  # every fifth is accepted at once
                StockRequest.objects.accept(pk, drivers[n % 10])
                accepted.append(pk)
        offered_in = time.monotonic() - began

        own_redis.kill()
        killed_at = time.monotonic()
        open_at_kill = StockRequest.objects.filter(status="ASSIGNING").count()
        # The API keeps working without a broker: the newest offers are
        # still open (deadlines TIMEOUT after they were made).
        for n in [n for n in range(OFFERS - 15, OFFERS) if n % 5][:10]:
            StockRequest.objects.accept(pks[n], drivers[n % 10])
            accepted.append(pks[n])
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - killed_at)))
        own_redis.start()
        outage = time.monotonic() - killed_at

    # The worker normally reconnects by itself. Celery/kombu can also die on
    # a broker loss (an AttributeError while restoring unacked messages as
    # the connection closes: a known class of bugs), so the test restarts a
    # dead worker as a process supervisor would, and counts it.
    restarts = 0

    def repaired():
        nonlocal restarts, worker
        if not (
            StockRequest.objects.filter(status="ASSIGNING").exists()
            or AssignmentEvent.objects.undelivered().exists()
        ):
            return True
        if not worker.alive():
            restarts += 1
            worker = start_worker(
                children, f"worker-restart-{restarts}", own_redis.url, settings
            )
        return False

    wait_for(repaired, 120, "every offer ended and every event delivered", interval=0.2)
    recovered_in = time.monotonic() - killed_at - outage

    expired = set(
        AssignmentEvent.objects.filter(kind="expired").values_list("pk", flat=True)
    )
    counts = sends(log)
    figures = {
        "offers": OFFERS,
        "accepted": len(accepted),
        "expired": len(expired),
        "open_at_kill": open_at_kill,
        "outage_s": round(outage, 1),
        "worker_restarts": restarts,
        "offers_made_in_s": round(offered_in, 1),
        "recovered_in_s": round(recovered_in, 1),
        "lost": len(expired - set(counts)),
        "duplicated": sum(
            n - 1 for event_id, n in counts.items() if event_id in expired
        ),
        "undelivered": AssignmentEvent.objects.exclude(
            delivery_state=DeliveryState.DELIVERED
        ).count(),
    }
    print(json.dumps(figures))
    assert StockRequest.objects.filter(status="ASSIGNED").count() == len(accepted)
    assert StockRequest.objects.filter(status="PENDING").count() == OFFERS - len(
        accepted
    )
    assert len(expired) == OFFERS - len(accepted)
    assert open_at_kill >= 100  # offers were in flight (400 on the dev machine)
    assert violations(StockRequest) == []
    assert figures["undelivered"] == 0
    assert figures["lost"] == 0
