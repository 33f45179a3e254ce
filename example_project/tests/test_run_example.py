"""``run_example.py --ci-smoke``: the new user's one command, start to first expiry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent.parent


def test_ci_smoke_sees_an_offer_expire_with_no_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FCM_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        GTS_ENV_FILE=str(tmp_path / "no.env"),
    )
    args = ["--ci-smoke", "--timeout", "3", "--interval", "1", "--wait", "90"]
    result = subprocess.run(
        [sys.executable, "run_example.py", *args, "--port", str(free_port())],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "demo users" in out and "eic.kondli" in out
    assert (
        "Driver Assignment Expired: Ravi did not accept the trip to DBS Kondli. "
        "Please reassign." in out
    )
    assert "is PENDING again (target_driver=None, assignment_mode=None)" in out
    assert "[scheduler] stopped" in out  # the children were stopped cleanly
    assert "smoke: ok" in out
