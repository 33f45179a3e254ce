"""Starting, waiting on and always stopping the scheduler tests' subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: Any) -> dict[str, str]:
    """Environment for a subprocess that shares this test run's database."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.schedulers_support.worker_settings",
        SCHED_DB_NAME=str(connection.settings_dict["NAME"]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    for key, value in extra.items():
        env[key] = value if isinstance(value, str) else json.dumps(value)
    return env


@contextmanager
def running(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    """Run ``python args...`` in its own process group; always stop it afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 10) -> int:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str = "",
    log: Path | None = None,
    *,
    interval: float = 0.05,
) -> Any:
    """Poll ``predicate`` until truthy; after ``timeout``, fail showing the log.

    The predicate runs once more after the deadline, so a condition that came
    true during the last sleep is not reported as a timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}\n{tail}"
    )


def run_producer(*args: str, env: dict[str, str], timeout: float = 30) -> dict:
    """Run ``tests.schedulers_support.producer`` and return its JSON line."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.schedulers_support.producer", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
