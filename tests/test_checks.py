"""System checks: each id directly, and through ``manage.py check``."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from django_assignment_timeout.checks.settings import check_settings
from django_assignment_timeout.models import ExpiringAssignmentMixin
from tests.testapp.models import Driver, StockRequest, Ticket


def ids(messages):
    return sorted(m.id for m in messages)


def test_the_test_apps_models_are_clean():
    assert StockRequest.check() == []
    assert Ticket.check() == []
    assert check_settings() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ASSIGNMENT_TIMEOUT_SECONDS": 0}, "assignment_timeout.E010"),
        ({"ASSIGNMENT_TIMEOUT_SECONDS": "300"}, "assignment_timeout.E010"),
        ({"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": -1}, "assignment_timeout.E011"),
        ({"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": 600}, "assignment_timeout.W012"),
        ({"ASSIGNMENT_TIMEOUT_BATCH_SIZE": 0}, "assignment_timeout.E013"),
        ({"ASSIGNMENT_TIMEOUT_MAX_BATCHES": 2.5}, "assignment_timeout.E014"),
        ({"USE_TZ": False}, "assignment_timeout.W016"),
    ],
)
def test_settings_checks(overrides, expected):
    with override_settings(**overrides):
        messages = check_settings()
    assert ids(messages) == [expected]
    (message,) = messages
    assert message.hint
    assert isinstance(message, Warning if expected.split(".")[1][0] == "W" else Error)


def test_settings_errors_fail_manage_py_check():
    with (
        override_settings(ASSIGNMENT_TIMEOUT_SECONDS=-5),
        pytest.raises(SystemCheckError, match=r"assignment_timeout\.E010"),
    ):
        call_command("check")
    call_command("check")  # and pass again once fixed


def test_contenttypes_is_required():
    installed = ["django_assignment_timeout", "tests.testapp", "django.contrib.auth"]
    with override_settings(INSTALLED_APPS=installed):
        assert "assignment_timeout.E015" in ids(check_settings())


@isolate_apps("tests.testapp")
def test_model_checks():
    class Broken(ExpiringAssignmentMixin):
        state = models.CharField(
            max_length=10, choices=[("a", "A"), ("b", "B"), ("c", "C")]
        )
        owner = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            status_field = "state"
            pending, offered, accepted = "a", "x", "a"
            assignee_field = "owner"
            clear_fields = ["nope", "assignment_attempt"]
            timeout = -1

    class NoStatus(ExpiringAssignmentMixin):
        driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            status_field = "missing"
            assignee_field = "driver"
            timeout = "NO_SUCH_SETTING"

    broken = [m for m in Broken.check() if m.id.startswith("assignment_timeout.")]
    assert ids(broken) == [
        "assignment_timeout.E002",  # "x" is not a choice
        "assignment_timeout.E003",  # pending == accepted
        "assignment_timeout.E004",  # owner is not a foreign key
        "assignment_timeout.E005",  # nope
        "assignment_timeout.E005",  # a field the library manages
        "assignment_timeout.E006",  # negative timeout
    ]
    assert all(m.hint and m.obj is Broken for m in broken)
    no_status = [m for m in NoStatus.check() if m.id.startswith("assignment_timeout.")]
    assert ids(no_status) == [
        "assignment_timeout.E001",
        "assignment_timeout.E004",  # not nullable
        "assignment_timeout.E006",
    ]


@pytest.fixture
def misconfigured_installed_model():
    """A model with a bad AssignmentMeta in the real app registry, for manage.py check."""
    from django.apps import apps

    class CheckProbe(ExpiringAssignmentMixin):
        state = models.CharField(
            max_length=10, choices=[("p", "P"), ("o", "O"), ("t", "T")]
        )
        who = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            status_field = "state"
            pending, offered, accepted = "p", "offered", "t"
            assignee_field = "who"

    yield CheckProbe
    del apps.all_models["testapp"]["checkprobe"]
    apps.clear_cache()


def test_model_errors_fail_manage_py_check(misconfigured_installed_model):
    with pytest.raises(SystemCheckError, match=r"assignment_timeout\.E002"):
        call_command("check")
