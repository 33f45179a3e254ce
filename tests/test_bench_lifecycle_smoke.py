"""bench/lifecycle.py still runs: every workload on a few rows, each database it finds.

The benchmark itself is not run in CI; this keeps the script from rotting
(its raw statements are written for the test app's table, so a column
renamed there breaks it here). It asserts the output's shape, not speed.
"""

from __future__ import annotations

import pytest

from tests.support.children import ROOT, run_python

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(300)]


def test_lifecycle_benchmark_runs_every_workload_and_prints_its_ratio():
    result = run_python(
        str(ROOT / "bench" / "lifecycle.py"),
        *("--rows", "5", "--repeat", "1", "--databases", "postgresql,sqlite"),
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    measured = [line.split()[:4] for line in lines if " pairs/s " in line]
    assert measured[:6] == [
        [vendor, "offer", "+", workload]
        for vendor in ("postgresql", "sqlite")
        for workload in ("accept", "reject", "expire")
    ]
    name, _, value = lines[-1].partition("=")
    assert name == "offer_accept_vs_raw"
    assert float(value) > 0
