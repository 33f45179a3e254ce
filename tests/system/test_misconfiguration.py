"""Scenario 7: every setting given a wrong type or value.

Each bad value must be reported by a system check with its id, never by a
traceback. One process per setting starts Django with the bad value from
the first moment (``manage.py check`` with every setting wrong at once, and
``expire_assignments``, which runs the checks before it sweeps), and every
bad value of the table is run through ``call_command("check")`` under
``override_settings``.
"""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from tests.support.children import child_env, run_python

COMMAND = "django_assignment_timeout.schedulers.command.CommandScheduler"
CELERY = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
LOG = "django_assignment_timeout.notifiers.log.LogNotifier"
FCM = "django_assignment_timeout.notifiers.fcm.FCMNotifier"


def _fcm(**options):
    return repr({"default": {"BACKEND": FCM, "OPTIONS": options}})


#: (setting, bad value as Python source, the check id that must report it).
#: The first row of each setting is also given at startup, all at once.
CASES = [
    ("ASSIGNMENT_TIMEOUT_SECONDS", '"soon"', "E010"),
    ("ASSIGNMENT_TIMEOUT_SECONDS", "0", "E010"),
    ("ASSIGNMENT_TIMEOUT_SECONDS", "-5", "E010"),
    ("ASSIGNMENT_TIMEOUT_SECONDS", "None", "E010"),
    ("ASSIGNMENT_TIMEOUT_SECONDS", "True", "E010"),
    ("ASSIGNMENT_TIMEOUT_SECONDS", "1e999", "E010"),
    ("ASSIGNMENT_TIMEOUT_SECONDS", "[300]", "E010"),
    ("ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL", '"often"', "E011"),
    ("ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL", "0", "E011"),
    ("ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL", "-1.5", "E011"),
    ("ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL", "None", "E011"),
    ("ASSIGNMENT_TIMEOUT_BATCH_SIZE", '"500"', "E013"),
    ("ASSIGNMENT_TIMEOUT_BATCH_SIZE", "0", "E013"),
    ("ASSIGNMENT_TIMEOUT_BATCH_SIZE", "2.5", "E013"),
    ("ASSIGNMENT_TIMEOUT_BATCH_SIZE", "True", "E013"),
    ("ASSIGNMENT_TIMEOUT_BATCH_SIZE", "None", "E013"),
    ("ASSIGNMENT_TIMEOUT_MAX_BATCHES", '"x"', "E014"),
    ("ASSIGNMENT_TIMEOUT_MAX_BATCHES", "0", "E014"),
    ("ASSIGNMENT_TIMEOUT_MAX_BATCHES", "-1", "E014"),
    ("ASSIGNMENT_TIMEOUT_MAX_BATCHES", "1.0", "E014"),
    ("ASSIGNMENT_TIMEOUT_SCHEDULER", '"no.such.Backend"', "E020"),
    ("ASSIGNMENT_TIMEOUT_SCHEDULER", "42", "E020"),
    ("ASSIGNMENT_TIMEOUT_SCHEDULER", "{}", "E020"),
    ("ASSIGNMENT_TIMEOUT_SCHEDULER", "{'BACKEND': 5}", "E020"),
    ("ASSIGNMENT_TIMEOUT_SCHEDULER", "{'BACKEND': 'django.db.models.Model'}", "E020"),
    (
        "ASSIGNMENT_TIMEOUT_SCHEDULER",
        f"{{'BACKEND': {COMMAND!r}, 'OPTIONS': []}}",
        "E020",
    ),
    (
        "ASSIGNMENT_TIMEOUT_SCHEDULER",
        f"{{'BACKEND': {COMMAND!r}, 'OPTIONS': {{'x': 1}}}}",
        "E021",
    ),
    (
        "ASSIGNMENT_TIMEOUT_SCHEDULER",
        f"{{'BACKEND': {CELERY!r}, 'OPTIONS': {{'app': 'no.such.app'}}}}",
        "E023",
    ),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", '"log"', "E030"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", "[]", "E030"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", "{'default': 'log'}", "E030"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", "{'default': {}}", "E030"),
    (
        "ASSIGNMENT_TIMEOUT_NOTIFIERS",
        "{'default': {'BACKEND': 'no.such.Notifier'}}",
        "E030",
    ),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", "{'default': {'BACKEND': 5}}", "E030"),
    (
        "ASSIGNMENT_TIMEOUT_NOTIFIERS",
        f"{{'default': {{'BACKEND': {LOG!r}, 'OPTIONS': 3}}}}",
        "E030",
    ),
    (
        "ASSIGNMENT_TIMEOUT_NOTIFIERS",
        f"{{'default': {{'BACKEND': {LOG!r}, 'OPTIONS': []}}}}",
        "E030",
    ),
    (
        "ASSIGNMENT_TIMEOUT_NOTIFIERS",
        f"{{'default': {{'BACKEND': {LOG!r}, 'OPTIONS': {{'x': 1}}}}}}",
        "E031",
    ),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", _fcm(credentials=5), "E035"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", _fcm(credentials="/nonexistent/sa.json"), "E035"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", _fcm(token_resolver="no.such.resolver"), "E036"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", _fcm(http_timeout=0), "E037"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", _fcm(http_timeout="10"), "E037"),
    ("ASSIGNMENT_TIMEOUT_NOTIFIERS", _fcm(target="email"), "E038"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE", "0", "E032"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE", '"1"', "E032"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE", "1.5", "E032"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS", "0", "E032"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS", "None", "E032"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF", "-1", "E033"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF", '"5"', "E033"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX", "0", "E033"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_LEASE", "None", "E033"),
    ("ASSIGNMENT_TIMEOUT_DELIVERY_LEASE", "1e999", "E033"),
    ("ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL", '"often"', "E040"),
    ("ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL", "0", "E040"),
    ("ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL", "-0.25", "E040"),
    ("ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL", "None", "E040"),
    ("ASSIGNMENT_TIMEOUT_EVENT_RETENTION", '"soon"', "E055"),
    ("ASSIGNMENT_TIMEOUT_EVENT_RETENTION", "0", "E055"),
    ("ASSIGNMENT_TIMEOUT_EVENT_RETENTION", '"-1d"', "E055"),
    ("ASSIGNMENT_TIMEOUT_EVENT_RETENTION", "True", "E055"),
    ("ASSIGNMENT_TIMEOUT_EVENT_RETENTION", "1e999", "E055"),
    ("ASSIGNMENT_TIMEOUT_METRICS", '"yes"', "E060"),
    ("ASSIGNMENT_TIMEOUT_METRICS", "1", "E060"),
    ("ASSIGNMENT_TIMEOUT_METRICS", "None", "E060"),
    # A model may name its own timeout setting (GTS: DRIVER_ASSIGNMENT_TIMEOUT_SECONDS).
    ("DRIVER_ASSIGNMENT_TIMEOUT_SECONDS", '"soon"', "E006"),
    ("DRIVER_ASSIGNMENT_TIMEOUT_SECONDS", "0", "E006"),
]

FIRST_PER_SETTING = list(
    {name: (name, source, check) for name, source, check in reversed(CASES)}.values()
)


def _ids(case):
    name, source, check = case
    return f"{name.removeprefix('ASSIGNMENT_TIMEOUT_')}={source}->{check}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_bad_value_is_a_check_error(case):
    name, source, check = case
    with override_settings(**{name: ast.literal_eval(source)}):
        ids = {message.id for message in run_checks() if message.is_serious()}
        with pytest.raises(SystemCheckError, match=rf"assignment_timeout\.{check}"):
            call_command("check")
    assert f"assignment_timeout.{check}" in ids


def test_good_settings_pass():
    call_command("check")


def _start(command, bad):
    settings = {name: ast.literal_eval(source) for name, source in bad.items()}
    return run_python(
        "-m", "django", *command, env=child_env(settings=settings), timeout=120
    )


@pytest.mark.django_db
def test_bad_values_at_startup_are_check_errors_not_tracebacks():
    # Every setting wrong from the first moment, all at once: each is
    # reported with its id and none hides another.
    bad = {name: source for name, source, _check in FIRST_PER_SETTING}
    runs = [(["check"], bad, [check for *_, check in FIRST_PER_SETTING])]
    # A command that needs the settings refuses to start, with the check's id.
    runs.append(
        (["expire_assignments"], {"ASSIGNMENT_TIMEOUT_BATCH_SIZE": "0"}, ["E013"])
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda run: _start(run[0], run[1]), runs))
    for (command, bad, checks), result in zip(runs, results, strict=True):
        where = f"{command} with {bad}: {result.stderr[-2000:]}"
        assert result.returncode == 1, where
        assert "SystemCheckError" in result.stderr, where
        assert "Traceback" not in result.stderr, where
        for check in checks:
            assert f"assignment_timeout.{check}" in result.stderr, where


def test_every_setting_has_bad_values_in_the_table():
    # A new ASSIGNMENT_TIMEOUT_* setting must come with its bad values here.
    from django.conf import settings

    declared = {
        name for name in dir(settings) if name.startswith("ASSIGNMENT_TIMEOUT_")
    }
    assert declared <= {name for name, _source, _check in CASES}
