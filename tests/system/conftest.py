"""Helpers of the system tests: child processes that are always reaped,
polling with a deadline, and raw connections to the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def wait_for(
    predicate: Any, *, timeout: float, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a Django child process using the running test's database."""
    from django.db import connection

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.system.subprocess_settings",
        SYSTEM_DB_NAME=str(connection.settings_dict["NAME"]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Children:
    """Child processes started by one test; each is stopped at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        """Start ``args`` with stdout and stderr going to files named after ``name``."""
        out = (self.tmp_path / f"{name}.out").open("wb")
        err = (self.tmp_path / f"{name}.err").open("wb")
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
        out.close()
        err.close()
        self.started.append(process)
        return Child(
            process, self.tmp_path / f"{name}.out", self.tmp_path / f"{name}.err"
        )

    def django(self, name: str, *command: str, **env: str) -> Child:
        """Start ``python -m django <command>`` against the test database."""
        return self.start(
            name, [sys.executable, "-m", "django", *command], child_env(**env)
        )

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                # The whole session: a worker's own children go too.
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class Child:
    """One started process and the files holding its output."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.process = process
        self.out_path = out
        self.err_path = err

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


@pytest.fixture
def children(tmp_path):
    """Start child processes; all are stopped when the test ends, pass or fail."""
    started = Children(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def pg_connect(autocommit: bool = True) -> Any:
    """A raw psycopg connection to the test database, apart from Django's."""
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"],
        port=params["PORT"],
        user=params["USER"],
        dbname=params["NAME"],
        autocommit=autocommit,
        application_name="system-test-controller",
    )
