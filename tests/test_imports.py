"""Importing the package, its models or its command pulls in no optional integration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

OPTIONAL = ("celery", "huey", "firebase_admin", "kombu", "django_tasks")

PROBE = """
import json, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django_assignment_timeout"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
)
import django_assignment_timeout
django.setup()
import django_assignment_timeout.models
from django.core.management import load_command_class
load_command_class("django_assignment_timeout", "expire_assignments")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
"""


def test_the_package_models_and_command_import_no_optional_integration():
    # A clean interpreter: this test process has imported the integrations.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (OPTIONAL,)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    assert json.loads(out.splitlines()[-1]) == []


def test_the_package_imports_before_django_is_set_up():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "import django_assignment_timeout as p; print(p.__version__, len(p.__all__))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    version, names = out.split()
    assert version[0].isdigit() and int(names) > 0
