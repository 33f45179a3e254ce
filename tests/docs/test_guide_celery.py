"""docs/guides/celery.rst, run: its blocks in a standard-layout project, a real
``celery worker`` and ``celery beat`` started as the guide starts them.

The projects run with this suite's interpreter (the package installed in it
editable), from their own directory and with no settings module of the
suite's in their environment.
"""

from __future__ import annotations

import contextlib
import shlex
import uuid
from datetime import datetime, timedelta

import pytest
from celery import Celery

from django_assignment_timeout.schedulers.celery import beat_schedule
from tests.docs.blocks import block
from tests.support import guide_project
from tests.support.celery_app import REDIS_URL
from tests.support.children import json_line
from tests.support.guide_project import project_env, write_celery_project
from tests.support.polling import wait_for

#: What a test adds to the guide's commands: one process per worker, no
#: chatter between workers of other tests on the shared broker.
WORKER_FLAGS = [
    "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _on_the_built_wheel(wheel_python, monkeypatch):
    """Every project of this module runs on a venv with the built wheel installed."""
    monkeypatch.setattr(guide_project, "PYTHON", str(wheel_python))


def _delete_queue(broker_url: str, queue: str) -> None:
    from kombu import Connection

    # Best effort: the queue may never have been declared.
    with (
        Connection(broker_url, connect_timeout=2) as conn,
        contextlib.suppress(Exception),
    ):
        conn.default_channel.queue_delete(queue)


def _manage(project, *args: str, timeout: float = 120):
    return guide_project.run_in(
        project, "manage.py", *args, env=project_env(), timeout=timeout
    )


def _migrated(project) -> None:
    checked = _manage(project, "check")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout
    for command in (["makemigrations", "pages"], ["migrate"]):
        ran = _manage(project, *command)
        assert ran.returncode == 0, ran.stdout + ran.stderr


def _guide_commands() -> dict[str, list[str]]:
    """The guide's "Run it" commands, by subcommand, as argv for this interpreter."""
    commands = {}
    for line in block("celery-run").splitlines():
        words = shlex.split(line.removeprefix("$ "))
        assert words[:3] == ["celery", "-A", "backend"], line
        commands[words[3]] = [guide_project.PYTHON, "-m", *words]
    assert sorted(commands) == ["beat", "worker"]
    return commands


@pytest.mark.slow
@pytest.mark.redis
def test_the_guides_standard_layout_expires_an_offer_precisely_with_a_real_worker(
    tmp_path, children
):
    """The guide's celery.py, imported by the project package; no OPTIONS["app"].

    ``check`` and ``migrate`` run; an offer made in a web-like process (a
    request thread of a WSGI app) is published to the project's Redis queue,
    and the project's own ``celery worker`` (no beat runs)
    expires it at its deadline.
    """
    queue = f"layout-{uuid.uuid4().hex[:8]}"
    project = write_celery_project(tmp_path / "site", broker_url=REDIS_URL, queue=queue)
    _migrated(project)
    worker = children.start(
        "worker", _guide_commands()["worker"] + WORKER_FLAGS, project_env(), project
    )
    try:
        with worker:
            wait_for(lambda: "ready." in worker.output(), 60, "worker ready")
            offered = json_line(
                guide_project.run_in(project, "web_offer.py", "1.5", "30", timeout=90)
            )
    finally:
        _delete_queue(REDIS_URL, queue)
    output = worker.output()
    assert "Task assignment_timeout.expire_offer[" in output, output[-4000:]
    assert offered["expired_at"] is not None, output[-4000:]
    late = datetime.fromisoformat(offered["expired_at"]) - datetime.fromisoformat(
        offered["deadline"]
    )
    print(f"expired {late} after the deadline")
    # No beat runs (its interval would be 60 s): only the precise task, in time.
    assert timedelta(0) <= late < timedelta(seconds=3), late


@pytest.mark.slow
@pytest.mark.redis
def test_the_guides_worker_and_beat_sweep_an_offer_left_alone_exactly_once(
    tmp_path, children
):
    """Both "Run it" commands as two processes; beat's entry is celery.py's one line.

    The sweep interval is a second so the test is short; the offer's own
    precise task is an hour away, so only beat's sweep can expire it.
    """
    queue = f"beat-{uuid.uuid4().hex[:8]}"
    project = write_celery_project(tmp_path / "site", broker_url=REDIS_URL, queue=queue)
    settings = project / "backend" / "settings.py"
    settings.write_text(
        settings.read_text() + "ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = 1\n"
    )
    _migrated(project)
    commands = _guide_commands()
    worker = children.start(
        "worker", commands["worker"] + WORKER_FLAGS, project_env(), project
    )
    beat = children.start("beat", commands["beat"], project_env(), project)
    try:
        with worker, beat:
            wait_for(lambda: "ready." in worker.output(), 60, "worker ready")
            swept = json_line(
                guide_project.run_in(project, "swept_offer.py", "30", "3", timeout=90)
            )
    finally:
        _delete_queue(REDIS_URL, queue)
    assert "Sending due task assignment-timeout-sweep" in beat.output(), beat.output()
    assert "Task assignment_timeout.sweep[" in worker.output()
    # Several sweeps ran after it; it was expired once.
    assert worker.output().count("Task assignment_timeout.sweep[") >= 2
    assert swept == {"expired": 1}, worker.output()[-4000:]


@pytest.mark.slow
def test_without_the_project_app_check_names_what_to_set_and_nothing_is_sent(
    tmp_path,
):
    """The package does not import celery.py: Celery's current app is its fallback."""
    project = write_celery_project(
        tmp_path / "site",
        broker_url="redis://127.0.0.1:1/1",  # never reached either way
        queue="layout-unused",
        import_app=False,
    )
    checked = _manage(project, "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "assignment_timeout.E026" in checked.stderr
    assert "OPTIONS']['app']" in checked.stderr
    assert "from .celery import app as celery_app" in checked.stderr
    # An offer made anyway succeeds, and logs the error instead of publishing
    # through Celery's fallback app (amqp://guest@localhost//).
    for command in (["makemigrations", "pages"], ["migrate"]):
        ran = _manage(project, *command, "--skip-checks")
        assert ran.returncode == 0, ran.stdout + ran.stderr
    offered = guide_project.run_in(
        project, "web_offer.py", "60", "0", env=project_env(), timeout=60
    )
    assert json_line(offered)["deadline"], offered.stderr
    assert "check E026" in offered.stderr
    # Naming the app fixes it, without the import: the guide's block, placed
    # after the first, replaces its setting.
    settings = project / "backend" / "settings.py"
    settings.write_text(settings.read_text() + block("celery-settings-app"))
    named = _manage(project, "check")
    assert named.returncode == 0, named.stderr


def test_the_routing_block_routes_every_task_and_the_beat_entry():
    """The Options block as the guide splits it: settings, then celery.py's line."""
    app = Celery("backend", set_as_current=False)
    namespace = {"app": app, "beat_schedule": beat_schedule}
    exec(block("celery-routing"), namespace)
    assert namespace["ASSIGNMENT_TIMEOUT_SCHEDULER"]["OPTIONS"] == {
        "queue": "assignments"
    }
    entry = app.conf.beat_schedule["assignment-timeout-sweep"]
    assert entry["task"] == "assignment_timeout.sweep"
    assert entry["options"]["queue"] == "assignments"
    arm = app.conf.beat_schedule["assignment-timeout-arm"]
    assert arm["task"] == "assignment_timeout.arm"
    assert arm["options"]["queue"] == "assignments"
