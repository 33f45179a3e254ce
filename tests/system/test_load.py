"""Scenario 4: load on PostgreSQL (the scenario itself is ``bench/load.py``).

100,000 offers expire under four real sweeper processes while 50 clients,
each on its own connection, accept offers at random times around their
deadlines. Every row must end either accepted (before its deadline) or
expired exactly once, and each client must have been told the truth. The
latency ratio is printed, not asserted: speed is the benchmark's business.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from bench.load import LockWaitSampler, run
from django.db import connection, transaction

from tests.testapp.models import StockRequest

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

OFFERS = 100_000


def test_lock_wait_sampler_measures_a_wait_it_is_shown():
    """The control for the benchmark's lock-wait figure: a real wait is seen."""
    pk = StockRequest.objects.create().pk
    waiter_pid: list[int] = []
    locked = threading.Event()

    def waiter() -> None:
        from django.db import connection as own

        try:
            own.ensure_connection()
            waiter_pid.append(own.connection.info.backend_pid)
            locked.wait(10)
            StockRequest.objects.filter(pk=pk).update(note="waited")  # blocks
        finally:
            own.close()

    thread = threading.Thread(target=waiter)
    with transaction.atomic():
        StockRequest.objects.select_for_update().get(pk=pk)
        thread.start()
        while not waiter_pid:
            time.sleep(0.01)
        sampler = LockWaitSampler(waiter_pid)
        sampler.start()
        locked.set()
        time.sleep(0.3)  # the row stays locked this long
    thread.join(10)
    sampler.stopping.set()
    sampler.join(10)
    [wait] = sampler.per_transaction()
    assert 0.15 < wait < 0.6, wait
    assert connection.vendor == "postgresql"


# Above the global timeout: its clients may take window + 120 s, the catch-up 180 s.
@pytest.mark.timeout(900)
def test_load_no_invariant_violations():
    figures = run(offers=OFFERS, sweepers=4, clients=50)
    print(json.dumps(figures, indent=2))
    assert figures["violation_examples"] == []
    assert figures["violations"] == 0
    assert figures["still_due"] == 0
    # Both sides of the race happened: some accepted in time, some too late.
    assert figures["accepted"] > 0
    assert figures["refused_expired"] > 0
    assert figures["accepts_attempted"] == 50 * 20
    # Every offer that was not accepted was expired, once.
    assert figures["pending_rows"] == OFFERS - figures["accepted"]
    assert figures["expired_events"] == figures["pending_rows"]
    assert figures["lock_wait_p99_ms"] >= 0
