"""docs/guides/cron.rst, run: the default scheduler's setting in a throwaway
project, and the guide's ``expire_assignments`` command lines as subprocesses.

The project's app is ``repairs`` with a ``Repair`` model, the names the
guide's dry-run transcript shows, so that transcript is compared as written.
Crontab and systemd text are fragments (they configure a host, not a test).
The project runs with this suite's interpreter (the package installed in it
editable).
"""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path

import pytest

from tests.docs.blocks import block
from tests.support import guide_project
from tests.support.children import json_line
from tests.support.guide_project import MODELS, project_env, write_project
from tests.support.polling import wait_for

#: ``n`` repairs offered to a user and moved past their deadline.
DUE_OFFERS = """\
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402

from django_assignment_timeout.testing import make_due  # noqa: E402
from repairs.models import Repair  # noqa: E402

user, _ = User.objects.get_or_create(username="technician")
pks = []
for _ in range(int(sys.argv[1])):
    repair = Repair.objects.create()
    repair.offer(user)
    pks.append(repair.pk)
make_due(Repair, *pks)
print(json.dumps({"pks": pks}))
"""

COUNT_EXPIRED = """\
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from django_assignment_timeout.models import AssignmentEvent  # noqa: E402

print(AssignmentEvent.objects.filter(kind="expired").count())
"""


@pytest.fixture(autouse=True)
def _on_the_built_wheel(wheel_python, monkeypatch):
    """Every project of this module runs on a venv with the built wheel installed."""
    monkeypatch.setattr(guide_project, "PYTHON", str(wheel_python))


def _project(path: Path) -> Path:
    project = write_project(
        path,
        {
            "settings": block("cron-settings"),
            "repairs/__init__.py": "",
            "repairs/models.py": MODELS.replace("class Page(", "class Repair("),
            "due_offers.py": DUE_OFFERS,
            "count_expired.py": COUNT_EXPIRED,
        },
        apps=("repairs",),
    )
    for command in (["check"], ["makemigrations", "repairs"], ["migrate"]):
        ran = _python(project, "manage.py", *command)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    return project


def _python(project: Path, *args: str, timeout: float = 60):
    return guide_project.run_in(project, *args, env=project_env(), timeout=timeout)


def _command(line: str) -> list[str]:
    """A guide's ``$ python manage.py ...`` line, for this interpreter."""
    words = shlex.split(line.removeprefix("$ "))
    assert words[:2] == ["python", "manage.py"], line
    return words[1:]


def _expired(project: Path) -> int:
    return int(_python(project, "count_expired.py").stdout.split()[-1])


def test_the_default_setting_is_what_the_guide_says():
    namespace: dict = {}
    exec(block("cron-settings"), namespace)
    from django_assignment_timeout.schedulers.command import CommandScheduler

    backend = namespace["ASSIGNMENT_TIMEOUT_SCHEDULER"]["BACKEND"]
    module, _, name = backend.rpartition(".")
    assert (module, name) == (CommandScheduler.__module__, CommandScheduler.__name__)


@pytest.mark.slow
def test_the_dry_run_prints_the_guides_transcript_and_changes_nothing(tmp_path):
    project = _project(tmp_path / "site")
    json_line(_python(project, "due_offers.py", "2"))
    first, *transcript = block("cron-dry-run").splitlines()
    ran = _python(project, *_command(first))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == transcript
    assert _expired(project) == 0
    # What cron runs (the crontab line's command): it expires them, exit 0.
    swept = _python(project, "manage.py", "expire_assignments")
    assert swept.returncode == 0, swept.stderr
    assert _expired(project) == 2


@pytest.mark.slow
def test_the_loop_expires_what_is_due_and_exits_0_on_sigterm(tmp_path, children):
    project = _project(tmp_path / "site")
    json_line(_python(project, "due_offers.py", "1"))
    [line] = block("cron-loop").splitlines()
    assert _command(line) == [
        "manage.py", "expire_assignments", "--loop", "--interval", "15"
    ]  # fmt: skip
    loop = children.start(
        "loop", [guide_project.PYTHON, *_command(line)], project_env(), project
    )
    with loop:
        # The first run starts at once, not an interval later.
        wait_for(lambda: _expired(project) == 1, 20, "first run")
        started = time.monotonic()
        loop.process.send_signal(signal.SIGTERM)
        code = loop.process.wait(timeout=20)
    assert code == 0, loop.output()[-4000:]
    assert time.monotonic() - started < 15  # it did not wait out the interval
    assert _expired(project) == 1
