"""bench/lateness.py still runs: its SQLite loop mode, shrunk to a few offers.

The benchmark itself (every mode, 100,000 outstanding offers) is not run in
CI; this keeps the script from rotting. The bound is loose on purpose (a
loaded CI machine): it fails if the loop stops expiring at the deadlines
(a fixed 60 s sweep would be tens of seconds late), not on speed.
"""

from __future__ import annotations

import math

import pytest

from tests.support.children import ROOT, run_python

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_lateness_benchmark_runs_the_sqlite_loop_and_prints_its_summary():
    result = run_python(
        str(ROOT / "bench" / "lateness.py"),
        *("--modes", "loop-sqlite", "--offers", "20", "--outstanding", "200"),
        *("--spread", "3", "--span", "36"),
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    runs = [line for line in lines if line.startswith("(")]
    assert [line.split()[:3] for line in runs] == [
        ["(a)", "loop-sqlite", "n=20"],
        ["(b)", "loop-sqlite", "n=20"],
    ]
    assert lines[-3].startswith("offer_push_p99_s=")  # loop-pg did not run: nan
    name, _, value = lines[-2].partition("=")
    assert name == "loop_sqlite_p99_s"
    assert 0 <= float(value) < 5
    last = dict(pair.split("=") for pair in lines[-1].split())
    assert list(last) == [
        "loop_p99_s",
        "celery_p99_s",
        "loop_rss_mb",
        "celery_worker_rss_mb",
    ]
    assert all(math.isnan(float(v)) for v in last.values())  # PostgreSQL modes
