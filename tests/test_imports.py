"""Importing the package, its models or its commands, or running ``check``,
pulls in no optional integration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("celery", "huey", "firebase_admin", "kombu", "django_tasks")

# The test settings: every app (the admin's autodiscovery imports the
# package's admin) and the default scheduler and notifiers.
PROBE = """
import json, sys
import django_assignment_timeout  # before Django is set up
import django
django.setup()
import django_assignment_timeout.models
from django.core import checks
from django.core.management import load_command_class
load_command_class("django_assignment_timeout", "expire_assignments")
load_command_class("django_assignment_timeout", "deliver_assignment_events")
checks.run_checks()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
"""


def test_the_package_models_commands_and_check_import_no_optional_integration():
    # A clean interpreter: this test process has imported the integrations.
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (OPTIONAL,)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
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
