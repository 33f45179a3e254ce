"""Scenario 4: load on PostgreSQL (the scenario itself is ``bench/load.py``).

100,000 offers expire under four real sweeper processes while 50 clients,
each on its own connection, accept offers at random times around their
deadlines. Every row must end either accepted (before its deadline) or
expired exactly once, and each client must have been told the truth. The
latency ratio is printed, not asserted: speed is the benchmark's business.
"""

from __future__ import annotations

import json

import pytest
from bench.load import run

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    # Above the global timeout: its clients may take window + 120 s, the catch-up 180 s.
    pytest.mark.timeout(900),
]

OFFERS = 100_000


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
