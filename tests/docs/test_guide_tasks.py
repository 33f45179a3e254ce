"""docs/guides/tasks.rst, run: its settings block in a throwaway project.

The block's task backend is ``"..."`` ("a task backend with a worker"); the
guide names no such backend, and none is installed here, so the test fills in
the one it does name, ``ImmediateBackend`` (``django.tasks`` on Django 6,
the ``django_tasks`` backport on 5.2), and checks what the guide says of it:
check ``W025`` at startup, no per-offer task, delivery at once after the
commit, and the sweep expiring the offer. The project runs with this suite's
interpreter (the package installed in it editable).
"""

from __future__ import annotations

from pathlib import Path

import django
import pytest

from tests.docs.blocks import block
from tests.support import guide_project
from tests.support.children import json_line
from tests.support.guide_project import project_env, write_project

IMMEDIATE = (
    "django.tasks.backends.immediate.ImmediateBackend"
    if django.VERSION >= (6,)
    else "django_tasks.backends.immediate.ImmediateBackend"
)

#: An offer made and committed, what was delivered by then, and whether a
#: deferred expire_offer exists: none can with ImmediateBackend, so moving the
#: deadline into the past leaves the offer open until the sweep.
OFFER = """\
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402

from django_assignment_timeout.notifiers import locmem  # noqa: E402
from django_assignment_timeout.testing import make_due  # noqa: E402
from pages.models import Page  # noqa: E402

page = Page.objects.create()
user = User.objects.create(username="clinician")
page.offer(user, timeout=1)
delivered = [n.data["event"] for n in locmem.outbox]
make_due(Page, page.pk)
page.refresh_from_db()
print(json.dumps({"pk": page.pk, "delivered": delivered, "status": page.status}))
"""

STATUS = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from pages.models import Page  # noqa: E402

page = Page.objects.get(pk=int(sys.argv[1]))
print(page.status, page.assignment_events().filter(kind="expired").count())
"""

NOTIFIERS = """
ASSIGNMENT_TIMEOUT_NOTIFIERS = {
    "locmem": {"BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"}
}
"""


@pytest.fixture(autouse=True)
def _on_the_built_wheel(wheel_python, monkeypatch):
    """Every project of this module runs on a venv with the built wheel installed."""
    monkeypatch.setattr(guide_project, "PYTHON", str(wheel_python))


def _settings() -> str:
    text = block("tasks-settings")
    assert text.count('"BACKEND": "..."') == 1
    filled = text.replace('"BACKEND": "..."', f'"BACKEND": {IMMEDIATE!r}')
    if django.VERSION < (6,):
        filled = 'INSTALLED_APPS += ["django_tasks"]\n' + filled
    return filled + NOTIFIERS


def _python(project: Path, *args: str):
    return guide_project.run_in(project, *args, env=project_env(), timeout=60)


def test_the_settings_block_names_the_tasks_scheduler_and_its_options():
    namespace: dict = {}
    exec(block("tasks-settings"), namespace)
    scheduler = namespace["ASSIGNMENT_TIMEOUT_SCHEDULER"]
    assert scheduler["BACKEND"].endswith("schedulers.tasks.TasksScheduler")
    assert scheduler["OPTIONS"] == {"backend": "default", "queue_name": "default"}
    assert set(namespace["TASKS"]) == {"default"}


@pytest.mark.slow
def test_with_immediate_backend_check_warns_w025_and_the_sweep_expires_the_offer(
    tmp_path,
):
    project = write_project(
        tmp_path / "site",
        {"settings": _settings(), "offer.py": OFFER, "status.py": STATUS},
    )
    checked = _python(project, "manage.py", "check")
    assert checked.returncode == 0, checked.stderr
    assert "assignment_timeout.W025" in checked.stderr
    assert "only by the sweep" in checked.stderr
    for command in (["makemigrations", "pages"], ["migrate"]):
        ran = _python(project, "manage.py", *command)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    offered = json_line(_python(project, "offer.py"))
    # Delivery ran at once, after the commit, in the offering process.
    assert offered["delivered"] == ["offered"], offered
    assert offered["status"] == "offered"
    # Past its deadline, nothing expired it: no per-offer task was enqueued.
    assert _python(project, "status.py", str(offered["pk"])).stdout.split() == [
        "offered", "0"
    ]  # fmt: skip
    swept = _python(project, "manage.py", "expire_assignments")
    assert swept.returncode == 0, swept.stderr
    assert _python(project, "status.py", str(offered["pk"])).stdout.split() == [
        "open", "1"
    ]  # fmt: skip
