"""Without an optional extra, what does not need it imports and checks clean.

Each case runs Django in a subprocess whose import system refuses the extras'
packages, as on a machine where they were never installed.
"""

from __future__ import annotations

import os

import pytest
from django import VERSION as DJANGO_VERSION

from tests.support.children import ROOT, json_line, run_python

COVERAGE_VARIABLES = ("COVERAGE_PROCESS_START", "COVERAGE_FILE")
EXTRAS = "celery,huey,django_tasks,firebase_admin"
PKG = "django_assignment_timeout"
#: Modules that need an extra, and the extra their error names.
NEEDS_EXTRA = {
    f"{PKG}.schedulers.celery": "celery",
    f"{PKG}.schedulers.celery.tasks": "celery",
    f"{PKG}.schedulers.celery_tasks": "celery",  # the deprecated path
    f"{PKG}.schedulers.huey": "huey",
    f"{PKG}.schedulers.huey.tasks": "huey",
    f"{PKG}.notifiers.fcm": "fcm",
}
if DJANGO_VERSION < (6, 0):  # Django 6 ships django.tasks; 5.2 needs the backport
    NEEDS_EXTRA[f"{PKG}.schedulers.tasks"] = "tasks"
    NEEDS_EXTRA[f"{PKG}.schedulers.tasks.tasks"] = "tasks"


BACKENDS = {
    f"{PKG}.schedulers.celery.CeleryScheduler": "celery",
    f"{PKG}.schedulers.huey.HueyScheduler": "huey",
}
if DJANGO_VERSION < (6, 0):
    BACKENDS[f"{PKG}.schedulers.tasks.TasksScheduler"] = "tasks"


def run_script(*args: str) -> dict:
    result = run_python(
        "-m",
        "tests.support.blocked_imports",
        *args,
        env={
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            # Only what a measured run (.ci/run) adds, so the child is measured too.
            **{
                name: os.environ[name]
                for name in COVERAGE_VARIABLES
                if name in os.environ
            },
        },
        timeout=120,
    )
    return json_line(result)


@pytest.fixture(scope="module")
def report() -> dict:
    """One subprocess for every blocked case: Django setup is most of its time."""
    return run_script(EXTRAS, *BACKENDS)


def test_without_extras_everything_else_imports_and_check_passes(report):
    assert report["checks"] == []
    unexpected = set(report["failed"]) - set(NEEDS_EXTRA)
    assert not unexpected, report["failed"]
    for module, error in report["failed"].items():
        if module.startswith(f"{PKG}.schedulers."):
            assert "MissingExtraError" in error, error
            assert f"django-assignment-timeout[{NEEDS_EXTRA[module]}]" in error, error


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_selecting_a_backend_whose_extra_is_absent_is_check_e020_naming_it(
    report, backend
):
    [(check_id, message)] = report["selected"][backend]
    assert check_id == "assignment_timeout.E020"
    assert f"pip install 'django-assignment-timeout[{BACKENDS[backend]}]'" in message
