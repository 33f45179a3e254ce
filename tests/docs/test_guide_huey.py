"""docs/guides/huey.rst, run: its settings block in a throwaway project that
keeps ``startproject``'s ``DEBUG = True``, ``manage.py check`` (W027) and the
guide's ``run_huey`` consumer expiring an offer.

The projects run with this suite's interpreter (the package installed in it
editable), from their own directory and with no settings module of the
suite's in their environment.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path

import pytest

from tests.docs.blocks import block
from tests.support import guide_project
from tests.support.children import json_line
from tests.support.guide_project import WEB_OFFER, project_env, write_project
from tests.support.polling import wait_for

#: The project's own apps, which the guide's ``# ...`` stands for.
PROJECT_APPS = """\
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "pages",
"""


@pytest.fixture(autouse=True)
def _on_the_built_wheel(wheel_python, monkeypatch):
    """Every project of this module runs on a venv with the built wheel installed."""
    monkeypatch.setattr(guide_project, "PYTHON", str(wheel_python))


def _huey_settings(*, debug: bool = True, say_immediate: bool = True) -> str:
    """The guide's block as pasted into settings.py below ``startproject``'s."""
    text = block("huey-settings")
    assert "    # ...\n" in text and '"immediate": False,  # else DEBUG' in text
    text = text.replace("    # ...\n", PROJECT_APPS, 1)
    if not say_immediate:  # what the guide warns against: HUEY without the key
        text = text.replace(
            '    "immediate": False,  # else DEBUG = True turns immediate mode on\n', ""
        )
    return text + f"DEBUG = {debug}\n"


def _project(path: Path, **kwargs: bool) -> Path:
    return write_project(
        path, {"settings": _huey_settings(**kwargs), "web_offer.py": WEB_OFFER}
    )


def _manage(project: Path, *args: str, timeout: float = 120):
    return guide_project.run_in(
        project, "manage.py", *args, env=project_env(), timeout=timeout
    )


def _check(project: Path) -> str:
    result = _manage(project, "check")
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_check_warns_when_debug_turns_huey_immediate_and_not_with_the_guides_settings(
    tmp_path,
):
    namespace = {"BASE_DIR": tmp_path}
    exec(block("huey-settings"), namespace)  # plain Python, as settings.py runs it
    assert namespace["HUEY"]["immediate"] is False
    assert namespace["HUEY"]["filename"] == tmp_path / "huey.db"
    warned = _check(_project(tmp_path / "implied", say_immediate=False))
    assert "assignment_timeout.W027" in warned
    assert '"immediate": False' in warned
    for name, kwargs in {
        "guide": {},  # DEBUG = True and the guide's HUEY
        "production": {"debug": False, "say_immediate": False},
    }.items():
        output = _check(_project(tmp_path / name, **kwargs))
        assert "W027" not in output, name


@pytest.mark.slow
def test_run_huey_starts_with_the_guides_settings_under_debug_and_expires_an_offer(
    tmp_path, children
):
    """startproject's ``DEBUG = True`` and the guide's ``HUEY``: the consumer runs."""
    project = _project(tmp_path / "site")
    for command in (["makemigrations", "pages"], ["migrate"]):
        ran = _manage(project, *command)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    [line] = block("huey-run").splitlines()
    words = shlex.split(line.removeprefix("$ "))
    assert words == ["python", "manage.py", "run_huey"]
    consumer = children.start(
        "huey",
        [guide_project.PYTHON, *words[1:], "--workers", "1"],
        project_env(),
        project,
    )
    with consumer:
        wait_for(
            lambda: (
                "Huey consumer started" in consumer.output() or not consumer.alive()
            ),
            60,
            "consumer start",
        )
        assert consumer.alive(), consumer.output()[-4000:]
        offered = json_line(
            guide_project.run_in(
                project, "web_offer.py", "1", "30", env=project_env(), timeout=90
            )
        )
        # More periodic checks cannot expire it again; give the consumer a moment.
        wait_for(lambda: "expire_offer" in consumer.output(), 10, "task logged")
    assert offered["expired_at"] is not None, consumer.output()[-4000:]
    assert datetime.fromisoformat(offered["expired_at"]) >= datetime.fromisoformat(
        offered["deadline"]
    )
    assert "huey.tasks.expire_offer" in consumer.output()
    assert (project / "huey.db").exists()  # the guide's SQLite queue, no server
    count = (
        "from pages.models import Page; "
        "print(sum(p.assignment_events().filter(kind='expired').count()"
        " for p in Page.objects.all()))"
    )
    events = guide_project.run_in(project, "manage.py", "shell", "-c", count)
    assert events.stdout.splitlines()[-1] == "1", events.stderr
