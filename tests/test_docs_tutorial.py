"""The tutorial, run as a new user would: so its code can not silently go stale.

The tutorial's app (``docs/tutorial/repairs``) and shell session
(``docs/tutorial/session.py``) are the very files the tutorial page
literalincludes. This test builds a throwaway project around them in a
temporary directory (its own SQLite file and migrations folder, nothing
written into the source tree), then runs ``makemigrations``, ``migrate``, the
session in ``manage.py shell`` and ``expire_assignments``, and checks the
output the tutorial shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial"

SETTINGS = """\
SECRET_KEY = "tutorial"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_assignment_timeout",
    "repairs",
]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MIGRATION_MODULES = {{"repairs": "tutorial_migrations"}}
"""


@pytest.fixture
def project(tmp_path):
    """A throwaway project whose settings install the tutorial's app."""
    (tmp_path / "tutorial_settings.py").write_text(
        SETTINGS.format(db=str(tmp_path / "db.sqlite3"))
    )
    (tmp_path / "tutorial_migrations").mkdir()
    (tmp_path / "tutorial_migrations" / "__init__.py").write_text("")
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tutorial_settings"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(TUTORIAL)])
    env["PYTHONWARNINGS"] = "error"

    def manage(*args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return manage


def test_tutorial_session_runs_as_shown(project):
    project("makemigrations", "repairs")
    project("migrate", "--verbosity", "0")
    assert project("check") == "System check identified no issues (0 silenced).\n"

    output = project(
        "shell", "--no-imports", "--command", (TUTORIAL / "session.py").read_text()
    )

    assert output.splitlines() == [
        "offered alice 1",
        "Too late: This offer has expired.",
        "open None",
        "['offered', 'expired']",
        "offered 2",
    ]
    # The second offer is left to the sweep, the tutorial's last step.
    assert project("expire_assignments") == textwrap.dedent(
        """\
        repairs.Repair: 1 expired
        expired 1 in 1 batch(es)
        """
    )
    repair = "from repairs.models import Repair; print(Repair.objects.get().status)"
    assert project("shell", "--no-imports", "--command", repair) == "open\n"
