"""Throwaway Django projects written from the guides' own code blocks.

:func:`write_celery_project` lays out the Celery guide's standard layout in a
directory: ``backend/celery.py`` and ``backend/__init__.py`` exactly as
``docs/guides/celery.rst`` writes them (fetched by ``:name:`` through
:func:`tests.docs.blocks.block`), settings of the test's own (a SQLite file, a
Redis broker and queue) followed by the guide's settings block, and a
``pages`` app whose model adopts the mixin. :func:`write_project` lays out
any other guide's project the same way. Its processes run as a user's would: ``manage.py`` and ``celery -A
backend`` from the project directory, with no ``DJANGO_SETTINGS_MODULE`` of
the suite's in their environment, on the interpreter of a venv that has the
built wheel installed (the docs suite's ``wheel_python`` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.blocks import block

#: The start of a project's settings (what ``startproject`` leaves, trimmed);
#: a guide's own settings block is appended to it.
BASE_SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "throwaway"
DEBUG = True
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_assignment_timeout",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

CELERY_SETTINGS = """\
CELERY_BROKER_URL = {broker_url!r}
CELERY_TASK_DEFAULT_QUEUE = {queue!r}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# No pidbox queue: another worker's on the shared broker would clash with it.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
"""

MODELS = """\
from django.conf import settings
from django.db import models

from django_assignment_timeout.models import ExpiringAssignmentMixin


class Page(ExpiringAssignmentMixin):
    status = models.CharField(max_length=20, default="open")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class AssignmentMeta:
        status_field = "status"
        pending, offered, accepted = "open", "offered", "taken"
        assignee_field = "assignee"
"""

MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

#: What a web server does (``wsgi.py``), then one offer made in a request
#: thread of its own, as a threaded server makes it. It waits for a worker to
#: expire the offer and prints one JSON line.
WEB_OFFER = """\
import json
import os
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

from django.contrib.auth.models import User  # noqa: E402

from pages.models import Page  # noqa: E402

page = Page.objects.create()
user = User.objects.create(username=f"clinician-{page.pk}")
made = {}


def request():
    made["event"] = page.offer(user, timeout=float(sys.argv[1]))


thread = threading.Thread(target=request)
thread.start()
thread.join()
offered = made["event"]
give_up = time.monotonic() + float(sys.argv[2])
expired = None
while expired is None and time.monotonic() < give_up:
    time.sleep(0.1)
    expired = page.assignment_events().filter(kind="expired").first()
print(json.dumps({
    "deadline": offered.deadline.isoformat(),
    "expired_at": None if expired is None else expired.created_at.isoformat(),
}))
"""

#: An offer left alone (a deadline an hour away, so its precise task is not
#: the one that expires it), moved past its deadline, then waited on: only a
#: sweep can expire it. Prints one JSON line.
SWEPT_OFFER = """\
import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402

from django_assignment_timeout.testing import make_due  # noqa: E402
from pages.models import Page  # noqa: E402

page = Page.objects.create()
user = User.objects.create(username=f"swept-{page.pk}")
page.offer(user, timeout=3600)
make_due(Page, page.pk)
give_up = time.monotonic() + float(sys.argv[1])
expired = 0
while not expired and time.monotonic() < give_up:
    time.sleep(0.2)
    expired = page.assignment_events().filter(kind="expired").count()
time.sleep(float(sys.argv[2]))  # more sweeps: none may expire it twice
print(json.dumps({"expired": page.assignment_events().filter(kind="expired").count()}))
"""


def write_project(
    path: Path, files: dict[str, str], *, apps: tuple[str, ...] = ("pages",)
) -> Path:
    """A project in ``path``: ``manage.py``, ``backend/settings.py`` from
    ``files["settings"]`` (appended to :data:`BASE_SETTINGS`), the project's
    ``apps`` installed (the ``pages`` app written when it is one of them), and
    every other file of ``files`` by its path."""
    settings = BASE_SETTINGS + files.pop("settings", "")
    # After the guide's block, which may list INSTALLED_APPS itself.
    settings += (
        f"\nINSTALLED_APPS += [a for a in {list(apps)!r} if a not in INSTALLED_APPS]\n"
    )
    pages = (
        {"pages/__init__.py": "", "pages/models.py": MODELS} if "pages" in apps else {}
    )
    layout = {
        "manage.py": MANAGE,
        "backend/__init__.py": "",
        "backend/settings.py": settings,
        **pages,
        **files,
    }
    for name, text in layout.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def write_celery_project(
    path: Path, *, broker_url: str, queue: str, import_app: bool = True
) -> Path:
    """The Celery guide's standard layout in ``path``; ``import_app=False`` leaves
    ``backend/__init__.py`` empty (the layout the E026 check is for)."""
    settings = CELERY_SETTINGS.format(broker_url=broker_url, queue=queue)
    return write_project(
        path,
        {
            "settings": settings + block("celery-settings"),
            "web_offer.py": WEB_OFFER,
            "swept_offer.py": SWEPT_OFFER,
            "backend/celery.py": block("celery-py"),
            "backend/__init__.py": block("celery-init") if import_app else "",
        },
    )


def project_env() -> dict[str, str]:
    """This environment less the suite's settings module: the project names its own."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV"}
    }


#: The interpreter the projects run on. A docs test module sets it to the
#: ``wheel_python`` fixture's (a venv with the built wheel installed, as a
#: user's project has it) with ``monkeypatch``; the suite's own otherwise.
PYTHON: str = sys.executable


def run_in(
    project: Path,
    *args: str,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python args...`` in ``project`` on :data:`PYTHON` (environment:
    :func:`project_env`) to its end; what it printed (never raises)."""
    return subprocess.run(
        [PYTHON, *args],
        cwd=project,
        env=project_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
