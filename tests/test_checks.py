"""System checks: each id directly, and through ``manage.py check``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from django_assignment_timeout.checks.settings import check_settings
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.options import AssignmentOptions
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
        ({"ASSIGNMENT_TIMEOUT_SECONDS": "soon"}, "assignment_timeout.E010"),
        ({"ASSIGNMENT_TIMEOUT_SECONDS": "-300"}, "assignment_timeout.E010"),
        ({"ASSIGNMENT_TIMEOUT_SECONDS": float("inf")}, "assignment_timeout.E010"),
        ({"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": "often"}, "assignment_timeout.E011"),
        ({"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": -1}, "assignment_timeout.E011"),
        ({"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": 600}, "assignment_timeout.W012"),
        ({"ASSIGNMENT_TIMEOUT_BATCH_SIZE": 0}, "assignment_timeout.E013"),
        ({"ASSIGNMENT_TIMEOUT_MAX_BATCHES": 2.5}, "assignment_timeout.E014"),
        ({"USE_TZ": False}, "assignment_timeout.W016"),
        ({"ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL": 0}, "assignment_timeout.E040"),
        ({"ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL": "soon"}, "assignment_timeout.E040"),
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


# -- the settings: one rule for the checks and the runtime -------------------


@pytest.mark.parametrize(
    "value", ["300", " 300 ", "2.5", 300, 2.5, timedelta(minutes=5), "1e3"]
)
def test_seconds_the_runtime_accepts_pass_the_checks(value):
    """E010/E011 used to refuse "300", which the runtime reads as 300 s."""
    with override_settings(
        ASSIGNMENT_TIMEOUT_SECONDS=value, ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=value
    ):
        assert check_settings() == []
        # ... and the runtime takes the same value, to the same number.
        assert AssignmentOptions(model=Ticket).timeout_seconds() > 0


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf", None, [300]])
def test_seconds_the_runtime_refuses_fail_the_checks(value):
    with override_settings(
        ASSIGNMENT_TIMEOUT_SECONDS=value, ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=value
    ):
        assert ids(check_settings()) == [
            "assignment_timeout.E010",
            "assignment_timeout.E011",
        ]
        with pytest.raises(ConfigurationError):
            AssignmentOptions(model=Ticket).timeout_seconds()


def test_string_settings_are_compared_as_numbers_for_w012():
    with override_settings(
        ASSIGNMENT_TIMEOUT_SECONDS="90", ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL="600"
    ):
        (warning,) = check_settings()
    assert warning.id == "assignment_timeout.W012"
    assert "(600) is longer than ASSIGNMENT_TIMEOUT_SECONDS (90)" in warning.msg


def test_a_string_timeout_passes_manage_py_check():
    with override_settings(ASSIGNMENT_TIMEOUT_SECONDS="300"):
        call_command("check")


# -- E007: what AssignmentMeta declares that nothing reads -------------------


def model_ids(model):
    return [m for m in model.check() if m.id.startswith("assignment_timeout.")]


@isolate_apps("tests.testapp")
def test_typos_in_assignment_meta_are_errors_naming_the_option():
    class Page(ExpiringAssignmentMixin):
        status = models.CharField(
            max_length=10,
            choices=[("pending", "P"), ("offered", "O"), ("accepted", "A")],
        )
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )
        mode = models.CharField(max_length=10, blank=True)

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            clear_field = ["mode"]
            time_out = 60
            _helper = "private names are the class's own"
            __slots__ = ()

    messages = model_ids(Page)
    assert ids(messages) == ["assignment_timeout.E007", "assignment_timeout.E007"]
    by_name = {m.msg.split("'")[1]: m for m in messages}
    assert set(by_name) == {"clear_field", "time_out"}
    assert by_name["clear_field"].hint.startswith("Did you mean clear_fields?")
    assert by_name["time_out"].hint.startswith("Did you mean timeout?")
    assert "testapp.Page.AssignmentMeta declares 'time_out'" in by_name["time_out"].msg
    assert all(isinstance(m, Error) and m.obj is Page for m in messages)


@isolate_apps("tests.testapp")
def test_inherited_and_far_off_names_and_a_non_class_meta():
    class Shared:
        timeout = 60
        colour = "blue"

    class Page(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10)
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

        class AssignmentMeta(Shared):
            pass

    class Dicty(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10)
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

        AssignmentMeta = {"timeout": 60}

    (colour,) = model_ids(Page)
    assert colour.id == "assignment_timeout.E007"
    assert "'colour'" in colour.msg
    assert not colour.hint.startswith("Did you mean")  # nothing is close
    assert "timeout" in colour.hint  # the options are listed
    (dicty,) = model_ids(Dicty)
    assert dicty.id == "assignment_timeout.E007"
    assert "is a dict, not a class" in dicty.msg


def test_every_option_e007_knows_is_read_by_from_model():
    """E007's list of options and from_model() can not drift apart."""
    from django_assignment_timeout.checks.models import _KNOWN

    declared = {name: f"declared {name}" for name in _KNOWN}
    meta = type("AssignmentMeta", (), declared)
    model = type("Probe", (), {"AssignmentMeta": meta})
    opts = AssignmentOptions.from_model(model)
    for name, value in declared.items():
        assert getattr(opts, name) in (value, (value,)), name


@pytest.fixture
def typo_installed_model():
    """A model with a typo in AssignmentMeta in the real app registry."""
    from django.apps import apps

    class TypoProbe(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10)
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            time_out = 60

    yield TypoProbe
    del apps.all_models["testapp"]["typoprobe"]
    apps.clear_cache()


def test_a_typo_fails_manage_py_check(typo_installed_model):
    with pytest.raises(
        SystemCheckError, match=r"(?s)assignment_timeout\.E007.*Did you mean timeout\?"
    ):
        call_command("check")


# -- E002 for an integer status ----------------------------------------------


class PageStatus(models.IntegerChoices):
    PENDING = 0
    OFFERED = 1
    ACCEPTED = 2


def integer_status_model(pending, offered, accepted):
    """A model with an IntegerChoices status whose AssignmentMeta names these
    values; call it inside an isolate_apps test, whose registry keeps it."""
    values = {"pending": pending, "offered": offered, "accepted": accepted}

    class Page(ExpiringAssignmentMixin):
        status = models.PositiveSmallIntegerField(
            choices=PageStatus, default=PageStatus.PENDING
        )
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )
        AssignmentMeta = type("AssignmentMeta", (), values)

        class Meta:
            app_label = "testapp"

    return Page


@isolate_apps("tests.testapp")
def test_e002_for_an_integer_status_names_the_type_and_the_values_to_write():
    messages = model_ids(integer_status_model("0", 1, 7))
    assert ids(messages) == ["assignment_timeout.E002", "assignment_timeout.E002"]
    wrong_type, not_a_choice = messages
    assert wrong_type.msg == (
        "AssignmentMeta.pending is '0', a str; the choices of testapp.Page.status "
        "are int values, so no row ever has it."
    )
    assert wrong_type.hint == "Write pending = 0 (the choices are 0, 1, 2)."
    assert not_a_choice.msg == (
        "AssignmentMeta.accepted is 7, which is not a choice of testapp.Page.status."
    )
    assert not_a_choice.hint == "Use one of: 0, 1, 2."


@isolate_apps("tests.testapp")
def test_integer_choices_members_and_plain_ints_are_both_clean():
    assert model_ids(integer_status_model(0, 1, 2)) == []


@isolate_apps("tests.testapp")
def test_e002_for_a_text_status_lists_the_choices_in_declared_order():
    class Page(ExpiringAssignmentMixin):
        status = models.CharField(
            max_length=10,
            choices=[("PENDING", "P"), ("OFFERED", "O"), ("DONE", "D")],
        )
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            pending, offered, accepted = "PENDING", "OFFERED", "ACCEPTED"

    (message,) = model_ids(Page)
    assert message.hint == "Use one of: 'PENDING', 'OFFERED', 'DONE'."
