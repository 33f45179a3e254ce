"""Child processes of a test: started apart, logged to files, always reaped.

A Django child (a worker, a sweeper, a relay, a producer) shares the running
test's database through ``tests.support.child_settings``, configured by the
``CHILD_*`` variables :func:`child_env` writes. Every child is a plain
``python`` of this virtualenv, so ``.ci/run`` records its coverage too (a
``.pth`` file and ``COVERAGE_PROCESS_START``, inherited with the environment).

Long-running children belong to a :class:`Children` (the ``children`` fixture
of ``tests/conftest.py``): each runs in its own process group, so stopping it
stops what it started (a worker's pool, its beat); its stdout and stderr go
to files; at teardown every child is stopped and reaped, and what each wrote
is printed, which pytest shows when the test failed. One-shot children run
with :func:`run_python`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: How much of a child's output a failure shows.
TAIL = 4000


def child_env(
    *,
    app_name: str | None = None,
    database: dict[str, Any] | None = None,
    sweep_interval: float | None = None,
    log_level: str | None = None,
    broker_url: str | None = None,
    queue: str | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The environment of a Django child on the running test's database.

    Each argument is the ``CHILD_*`` variable of the same name that
    ``tests.support.child_settings`` (or the Celery app) reads.
    """
    from django.db import connection

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.support.child_settings",
        CHILD_DB_NAME=str(connection.settings_dict["NAME"]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    variables = {
        "CHILD_APP_NAME": app_name,
        "CHILD_DATABASE": None if database is None else json.dumps(database),
        "CHILD_SWEEP_INTERVAL": None if sweep_interval is None else str(sweep_interval),
        "CHILD_LOG_LEVEL": log_level,
        "CHILD_BROKER_URL": broker_url,
        "CHILD_QUEUE": queue,
        "CHILD_SETTINGS": None if settings is None else json.dumps(settings),
    }
    env.update({name: value for name, value in variables.items() if value is not None})
    return env


def run_python(
    *args: str,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python args...`` to its end; what it printed (never raises on failure)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=os.environ.copy() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_line(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a successful child printed on its last line."""
    assert result.returncode == 0, result.stdout[-TAIL:] + result.stderr[-TAIL:]
    return json.loads(result.stdout.strip().splitlines()[-1])


class Child:
    """One started process and the files holding its output."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], logs: Path) -> None:
        self.name = name
        self.process = process
        self.out_path = logs / f"{name}.out"
        self.err_path = logs / f"{name}.err"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def output(self) -> str:
        """Both streams, stdout first."""
        return self.stdout() + self.stderr()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM the process group; SIGKILL it if it lingers. The exit status."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.crash()
        return self.process.wait()

    def crash(self) -> None:
        """SIGKILL the process and everything it started: no shutdown at all."""
        # Nothing to kill once the whole group has exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stopped at the end of a ``with`` block (its group's teardown would, later)."""
        self.stop()

    def report(self) -> str:
        """The tail of each stream, for a failure report."""
        return (
            f"--- {self.name} (exit {self.process.returncode}) stdout\n"
            f"{self.stdout()[-TAIL:]}\n--- {self.name} stderr\n{self.stderr()[-TAIL:]}"
        )


class Children:
    """The child processes of one test (or one server), stopped together."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Child] = []

    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
    ) -> Child:
        """Start ``args`` in its own process group, its output to ``<name>.out/.err``."""
        child_logs = self.logs / f"{name}.out", self.logs / f"{name}.err"
        with child_logs[0].open("wb") as out, child_logs[1].open("wb") as err:
            process = subprocess.Popen(
                args,
                cwd=cwd,
                env=os.environ.copy() if env is None else env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        child = Child(name, process, self.logs)
        self.started.append(child)
        return child

    def python(self, name: str, *args: str, **child: Any) -> Child:
        """Start ``python args...`` on the test database (``child``: see :func:`child_env`)."""
        return self.start(name, [sys.executable, *args], child_env(**child))

    def django(self, name: str, *command: str, **child: Any) -> Child:
        """Start ``python -m django command...`` on the test database."""
        return self.python(name, "-m", "django", *command, **child)

    def stop_all(self) -> None:
        """Stop every child (SIGTERM to all first, so they stop in parallel)."""
        for child in self.started:
            if child.alive():
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.started:
            child.stop()
            print(child.report())
