"""bench/scale.py still runs: one size, 10^5 rows, on PostgreSQL.

The benchmark itself (10^5 to 10^7 rows, databases kept between runs) is not
run in CI; this fills a database of its own, measures once, drops it, and
checks the summary lines, so the script can not rot. No speed is asserted.
"""

from __future__ import annotations

import os

import pytest

from tests.support.children import ROOT, run_python

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(600)]


def test_scale_benchmark_fills_measures_and_prints_its_summary():
    prefix = f"{os.environ.get('TEST_DB_NAME', 'test')}_scale"
    result = run_python(
        str(ROOT / "bench" / "scale.py"),
        *("--sizes", "100000", "--repeat", "1", "--drop", "--prefix", prefix),
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].strip() == f"100,000 rows: filling {prefix}_100000 ..."
    assert any(line.startswith("   100,000 rows: sweep ") for line in lines), lines
    last = dict(pair.split("=") for pair in lines[-1].split())
    assert list(last) == [
        "sweep_1e7_vs_1e5",
        "accept_p99_1e7_vs_1e5",
        "sweep_vs_raw_1e7",
    ]
    # One size: it is both ends of the scale.
    assert float(last["sweep_1e7_vs_1e5"]) == 1.0
    assert float(last["sweep_vs_raw_1e7"]) > 0
