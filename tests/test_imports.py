"""Importing the package, its models or its commands, or running ``check``,
pulls in no optional integration."""

from __future__ import annotations

import json
import os

from tests.support.children import run_python

OPTIONAL = (
    "celery",
    "huey",
    "firebase_admin",
    "kombu",
    "django_tasks",
    "health_check",
    "prometheus_client",
)

# A clean interpreter (this test process has imported the integrations),
# configured by the probe itself.
ENV = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}


def test_the_package_models_commands_and_check_import_no_optional_integration():
    # The test settings: every app (the admin's autodiscovery imports the
    # package's admin) and the default scheduler and notifiers.
    result = run_python(
        "-m",
        "tests.support.import_probe",
        "optional",
        ",".join(OPTIONAL),
        env={**ENV, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_package_imports_before_django_is_set_up():
    result = run_python(
        "-m", "tests.support.import_probe", "version", env=ENV, timeout=120
    )
    assert result.returncode == 0, result.stderr
    version, names = result.stdout.split()
    assert version[0].isdigit() and int(names) > 0
