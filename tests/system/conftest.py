"""Helpers of the system tests: raw connections to the test database, a
private redis-server, a private PostgreSQL cluster (alone or reachable from a
network namespace), and real Celery workers (children of the test, from
``tests.support.children``, started by the ``children`` fixture)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import netns
from tests.support.children import Child, Children, child_env, run_python
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.private_postgresql import PrivateCluster, bin_dir


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


def backend_gone(controller: Any, pid: int) -> bool:
    """Whether PostgreSQL backend ``pid`` has ended (as seen from ``controller``)."""
    return not controller.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()


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


def need(missing: str | None) -> None:
    """Skip the test for what this machine lacks (a tool, root), but fail
    under REQUIRE_SERVICES=1: CI has it all, so there a skip would hide a gap."""
    from tests import services

    if missing is None:
        return
    if services.required():
        pytest.fail(f"{missing} (REQUIRE_SERVICES=1: CI must run this test)")
    pytest.skip(missing)


def _private_cluster(
    listen: tuple[str, ...], clients: tuple[str, ...] = ()
) -> Iterator[PrivateCluster]:
    need(None if bin_dir() else "needs the PostgreSQL server binaries (initdb)")
    cluster = PrivateCluster(listen, clients)
    try:
        cluster.create()
        migrated = run_python(
            "-m",
            "django",
            "migrate",
            "--noinput",
            env=child_env(database=cluster.database()),
            timeout=300,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_postgresql() -> Iterator[PrivateCluster]:
    """A migrated PostgreSQL cluster of this test alone, on 127.0.0.1, to stop
    and start at will; always stopped and deleted at teardown."""
    yield from _private_cluster(("127.0.0.1",))


@pytest.fixture
def namespace() -> Iterator[netns.Namespace]:
    """A network namespace and veth pair to partition a child; always removed."""
    need(netns.missing())
    namespace = netns.Namespace()
    try:
        namespace.create()
        yield namespace
    finally:
        namespace.destroy()


@pytest.fixture
def partitionable_postgresql(namespace) -> Iterator[PrivateCluster]:
    """A private cluster that also listens on the namespace's veth pair."""
    yield from _private_cluster(
        ("127.0.0.1", namespace.host_address), (f"{namespace.inner_address}/32",)
    )


CELERY = "django_assignment_timeout.schedulers.celery.CeleryScheduler"


def worker_settings(sends_log: Path, **notifier_options: str) -> dict[str, Any]:
    """Settings of a worker that schedules with Celery and records its sends
    in ``sends_log`` (``tests.system.notifiers.FileNotifier``, with options)."""
    return {
        "ASSIGNMENT_TIMEOUT_SCHEDULER": {
            "BACKEND": CELERY,
            "OPTIONS": {"app": "tests.support.celery_app.app"},
        },
        "ASSIGNMENT_TIMEOUT_NOTIFIERS": {
            "default": {
                "BACKEND": "tests.system.notifiers.FileNotifier",
                "OPTIONS": {"path": str(sends_log), **notifier_options},
            }
        },
    }


def start_worker(
    children: Children, name: str, broker_url: str, settings: dict[str, Any]
) -> Child:
    """A real Celery worker and embedded beat on the test database and broker.

    Beat sweeps every 2 s; ``name`` is also the worker's ``application_name``.
    """
    return children.python(
        name,
        "-m",
        "celery",
        "-A",
        "tests.support.celery_app:app",
        "worker",
        "--beat",
        "--pool",
        "threads",
        "--concurrency",
        "4",
        "--loglevel",
        "info",
        "--schedule",
        str(children.logs / f"{name}-beat"),
        broker_url=broker_url,
        app_name=name,
        sweep_interval=2,
        settings=settings,
    )
