"""bench/dispatch.py still runs: both cascades and the latency with the loop and
with Celery (a worker on a Redis of its own), on a few chains.

The benchmark itself is not run in CI; this keeps the script from rotting.
It asserts the output's shape, and that both sides made every step, not speed.
Without the redis-server binary it skips the Celery figure (``--no-celery``),
except in CI (``REQUIRE_SERVICES=1``), which has it.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests import services
from tests.support.children import ROOT, run_python

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(300)]


def test_dispatch_benchmark_runs_both_cascades_and_prints_its_summary():
    celery = services.required() or shutil.which("redis-server") is not None
    result = run_python(
        str(ROOT / "bench" / "dispatch.py"),
        *("--chains", "10", "--latency-chains", "4", "--latency-timeout", "1"),
        *("--broadcast-rounds", "20"),
        *([] if celery else ["--no-celery"]),
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    sides = [line.split(":")[0] for line in lines if "30 chain steps" in line]
    assert sides == ["receiver", "library"]
    latencies = [line.split(",")[0] for line in lines if "over 8 steps" in line]
    assert latencies == ["next offer with the command loop"] + (
        ["next offer with Celery"] if celery else []
    )
    (raced,) = [line for line in lines if line.startswith("broadcast: 20 rounds")]
    assert "0 double wins, 180 refusals {'AlreadyTaken': 180}, 0 other" in raced
    assert re.fullmatch(
        r"cascade_vs_receiver=\d+\.\d\d next_offer_p99_s=\d+\.\d+ "
        r"broadcast_double_wins=0",
        lines[-1],
    ), lines[-1]
