"""bench/dispatch.py still runs: both cascades and the loop's latency, on a few chains.

The benchmark itself is not run in CI; this keeps the script from rotting.
It asserts the output's shape, and that both sides made every step, not speed.
"""

from __future__ import annotations

import re

import pytest

from tests.support.children import ROOT, run_python

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(300)]


def test_dispatch_benchmark_runs_both_cascades_and_prints_its_summary():
    result = run_python(
        str(ROOT / "bench" / "dispatch.py"),
        *("--chains", "10", "--latency-chains", "4", "--latency-timeout", "1"),
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    sides = [line.split(":")[0] for line in lines if "30 chain steps" in line]
    assert sides == ["receiver", "library"]
    assert "over 8 steps" in result.stdout
    assert re.fullmatch(
        r"cascade_vs_receiver=\d+\.\d\d next_offer_p99_s=\d+\.\d+ "
        r"broadcast_double_wins=n/a",
        lines[-1],
    ), lines[-1]
