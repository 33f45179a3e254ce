"""``run_example.py``: the new user's one command, start to first expiry, and its stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent.parent


def demo_env(tmp_path: Path) -> dict[str, str]:
    """No broker, no FCM, a database of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FCM_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        GTS_ENV_FILE=str(tmp_path / "no.env"),
    )
    return env


def run_example(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``run_example.py args`` to its end, with ``demo_env``."""
    return subprocess.run(
        [sys.executable, "run_example.py", *args],
        cwd=HERE,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def left_in_groups(pgids: list[int]) -> list[str]:
    """Live processes in the groups (honcho starts each command in its own).

    Zombies do not count: a command's shell stops at once and its orphaned
    child is reaped by init a moment after it exits.
    """
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        command, fields = text.split(" (", 1)[1].rsplit(") ", 1)
        state, _ppid, pgrp = fields.split()[:3]
        if int(pgrp) in pgids and state != "Z":
            left.append(f"{stat.parent.name} {command} {state}")
    return left


def test_ci_smoke_sees_an_offer_expire_with_no_broker(tmp_path):
    args = ["--ci-smoke", "--timeout", "3", "--interval", "1", "--wait", "90"]
    result = run_example(tmp_path, *args, "--port", str(free_port()))
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


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_process_and_exits_0(tmp_path, signum):
    log = tmp_path / "out.log"
    with log.open("w") as out:
        runner = subprocess.Popen(
            [
                sys.executable,
                "run_example.py",
                "--no-offer",
                "--port",
                str(free_port()),
            ],
            cwd=HERE,
            env=demo_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # The scheduler announces its loop once its signal handlers are in
        # place: a signal before that would find it still starting Django.
        wait_for(
            lambda: (
                "GTS example running" in log.read_text()
                and "[scheduler] sweeping every" in log.read_text()
            ),
            90,
            "the banner and the scheduler's loop",
            log.read_text,
        )
        runner.send_signal(signum)
        assert runner.wait(30) == 0, log.read_text()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    output = log.read_text()
    assert "[scheduler] stopped" in output, output
    pids = [
        int(pid) for pid in re.findall(r"\[system\] \w+ started \(pid=(\d+)\)", output)
    ]
    assert len(pids) == 2, output  # web and scheduler
    assert left_in_groups(pids) == [], output


def test_a_process_that_exits_stops_the_others_and_fails_the_run(tmp_path):
    with socket.socket() as taken:  # daphne cannot listen: the web process exits
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_example(tmp_path, "--ci-smoke", "--port", str(port))
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "[system] web stopped (rc=1)" in out
    assert "[system] sending SIGTERM to scheduler" in out
    assert "A process exited unexpectedly (rc=1)" in out
