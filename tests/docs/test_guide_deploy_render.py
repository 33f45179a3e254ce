"""docs/guides/deploy-render.rst, run: its "Checking a deployment" commands
against the example project with a real ``celery -A backend worker``, the way
a Render shell on the worker runs them.

The example runs from its own directory with this suite's interpreter (the
package installed in it editable), on a SQLite file of the test's own
(``DATABASE_URL``, as Render's PostgreSQL would be given) and a Redis broker
and result backend, with a queue of the test's own. The blueprint's services
themselves (render.yaml, the dashboard) are not run here.
"""

from __future__ import annotations

import ast
import contextlib
import shlex
import uuid
from pathlib import Path

import pytest

from tests.docs.blocks import block
from tests.support import guide_project
from tests.support.children import ROOT
from tests.support.guide_project import project_env
from tests.support.polling import wait_for

EXAMPLE = ROOT / "example_project"
REDIS = "redis://127.0.0.1:6379/3"


@pytest.fixture(autouse=True)
def _on_the_built_wheel(wheel_python, monkeypatch):
    """Every project of this module runs on a venv with the built wheel installed."""
    monkeypatch.setattr(guide_project, "PYTHON", str(wheel_python))


def _env(tmp_path: Path, queue: str) -> dict[str, str]:
    return {
        **project_env(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gts.sqlite3'}",
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }


def _inspect_commands() -> list[list[str]]:
    commands = []
    for line in block("render-inspect").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[:3] == ["celery", "-A", "backend"], line
            commands.append([guide_project.PYTHON, "-m", *words])
    return commands


def _shell_session() -> tuple[str, str]:
    """The ``>>>`` lines as a program, and the repr the session shows last."""
    lines = block("render-shell-sweep").splitlines()
    code = [line.removeprefix(">>> ") for line in lines if line.startswith(">>> ")]
    [shown] = [line for line in lines if not line.startswith(">>> ")]
    # The shell shows the last expression's value; print it the same way.
    return "\n".join([*code[:-1], f"print(repr({code[-1]}))"]), shown


def _delete_queue(queue: str) -> None:
    from kombu import Connection

    with Connection(REDIS, connect_timeout=2) as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(queue)


@pytest.mark.slow
@pytest.mark.redis
def test_the_deployment_checks_answer_from_a_real_worker(tmp_path, children):
    queue = f"render-{uuid.uuid4().hex[:8]}"
    env = _env(tmp_path, queue)
    migrated = guide_project.run_in(
        EXAMPLE, "manage.py", "migrate", env=env, timeout=120
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    worker = children.start(
        "worker",
        [
            guide_project.PYTHON, "-m", "celery", "-A", "backend", "worker",
            "--loglevel=info", "--pool", "solo", "--hostname", f"{queue}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        env,
        EXAMPLE,
    )  # fmt: skip
    code, shown = _shell_session()
    try:
        with worker:
            wait_for(lambda: "ready." in worker.output(), 60, "worker ready")
            answers = [
                guide_project.run_in(EXAMPLE, *argv[1:], "--timeout", "2", env=env)
                for argv in _inspect_commands()
            ]
            session = guide_project.run_in(
                EXAMPLE, "manage.py", "shell", "-c", code, env=env, timeout=60
            )
    finally:
        _delete_queue(queue)
    assert [a.returncode for a in answers] == [0, 0, 0, 0], [a.stderr for a in answers]
    registered = answers[0].stdout
    assert f"{queue}@" in registered  # our worker answered
    for task in (
        "logistics.check_expired_driver_assignments",
        "logistics.notify_eic_assignment_expired",
    ):
        assert task in registered, registered
    assert session.returncode == 0, session.stderr
    assert ast.literal_eval(session.stdout.splitlines()[-1]) == ast.literal_eval(shown)
    assert "logistics.check_expired_driver_assignments[" in worker.output()
