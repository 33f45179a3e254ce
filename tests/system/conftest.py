"""Helpers of the system tests: child processes that are always reaped and
raw connections to the test database (polling with a deadline is
``tests.schedulers_support.processes.wait_for``, re-exported here)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.schedulers_support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]


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

    def django_like(self, name: str, args: list[str], **env: str) -> Child:
        """Start ``args``, a process that sets Django up on the test database."""
        return self.start(name, args, child_env(**env))

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

    def crash(self) -> None:
        """SIGKILL the process and everything it started (a worker's pool, its beat)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


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


def block_expired_event(blocker: Any, model: Any, pk: Any, attempt: int = 1) -> None:
    """Hold, uncommitted on ``blocker``, the ``expired`` event of (pk, attempt).

    A sweep batch that reaches that row then waits on the event's unique index,
    mid-statement, having locked and reset its rows: a deterministic way to
    catch a sweeper inside its batch, without sleeps.
    """
    from django.contrib.contenttypes.models import ContentType

    from django_assignment_timeout.models import AssignmentEvent

    blocker.execute(
        f"INSERT INTO {AssignmentEvent._meta.db_table} "
        "(content_type_id, object_pk, attempt, kind, assignee_pk) "
        "VALUES (%s, %s, %s, 'expired', NULL)",
        [ContentType.objects.get_for_model(model).pk, str(pk), attempt],
    )


def sweeper_waiting(controller: Any, app_name: str, model: Any) -> int | None:
    """The pid of ``app_name``'s backend while it waits, mid-statement, on
    another transaction (the blocker) and holds its own row locks; else None."""
    row = controller.execute(
        """
        SELECT a.pid FROM pg_stat_activity a
        JOIN pg_locks waiting ON waiting.pid = a.pid AND NOT waiting.granted
             AND waiting.locktype = 'transactionid'
        WHERE a.application_name = %s AND a.state = 'active'
          AND a.query LIKE 'WITH due%%'
          AND EXISTS (SELECT 1 FROM pg_locks held WHERE held.pid = a.pid
                      AND held.granted AND held.locktype = 'relation'
                      AND held.mode = 'RowExclusiveLock'
                      AND held.relation = %s::regclass)
        """,
        [app_name, model._meta.db_table],
    ).fetchone()
    return row[0] if row else None


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A redis-server of this test alone (never the shared one), to kill and restart."""

    def __init__(self, children: Children, workdir: Path) -> None:
        self.children = children
        self.workdir = workdir
        self.port = free_port()
        self.child: Child | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.child = self.children.start(
            f"redis-{self.port}",
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            dict(os.environ),
        )
        wait_for(self.ready, timeout=20, what=f"redis-server on port {self.port}")

    def ready(self) -> bool:
        try:
            with socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no persistence; queued messages are gone."""
        assert self.child is not None
        self.child.crash()


@pytest.fixture
def own_redis(children, tmp_path):
    """A private redis-server on a free port; skipped if redis-server is absent
    (unless REQUIRE_SERVICES=1, as in CI)."""
    from tests import services

    if not shutil.which("redis-server") and not services.required():
        pytest.skip("needs the redis-server binary to start a private Redis")
    redis = OwnRedis(children, tmp_path)
    redis.start()
    return redis


def start_worker(
    children: Children, name: str, broker_url: str, settings: dict[str, Any]
) -> Child:
    """A real Celery worker and embedded beat on the test database and broker."""
    return children.django_like(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.system.celery_app:app",
            "worker",
            "--beat",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "info",
            "--schedule",
            str(children.tmp_path / f"{name}-beat"),
        ],
        SYSTEM_BROKER_URL=broker_url,
        SYSTEM_APP_NAME=name,
        SYSTEM_SETTINGS=json.dumps(settings),
    )
