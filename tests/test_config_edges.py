"""Configuration at its edges: settings given as text, a status without
choices, a scheduler that can not be loaded at startup or whose extra is
missing, and the periodic job when delivery is misconfigured."""

from __future__ import annotations

import logging
import sys

import pytest
from django.db import models
from django.test.utils import isolate_apps, override_settings

from django_assignment_timeout import schedulers
from django_assignment_timeout.exceptions import ConfigurationError, MissingExtraError
from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.options import options_for
from django_assignment_timeout.schedulers import jobs
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, StockRequest

CELERY_BACKEND = "django_assignment_timeout.schedulers.celery.CeleryScheduler"


def test_a_timeout_setting_read_from_the_environment_as_text_is_a_number():
    opts = options_for(StockRequest)
    with override_settings(DRIVER_ASSIGNMENT_TIMEOUT_SECONDS="90"):
        assert opts.timeout_seconds() == 90.0
        assert StockRequest.check() == []
    with override_settings(DRIVER_ASSIGNMENT_TIMEOUT_SECONDS="five minutes"):
        with pytest.raises(ConfigurationError, match="number of seconds"):
            opts.timeout_seconds()
        [error] = StockRequest.check()
    assert error.id == "assignment_timeout.E006"
    assert "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS" in error.msg


@isolate_apps("tests.testapp")
def test_a_status_field_without_choices_is_not_checked_against_them():
    class FreeText(ExpiringAssignmentMixin):
        status = models.CharField(max_length=20)
        driver = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

        class AssignmentMeta:
            assignee_field = "driver"
            pending, offered, accepted = "new", "asked", "taken"

    assert [m for m in FreeText.check() if m.id.startswith("assignment_timeout.")] == []


def test_an_unloadable_scheduler_does_not_stop_startup(caplog):
    with (
        override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER={"BACKEND": "no.such.Backend"}),
        caplog.at_level(logging.WARNING, logger="django_assignment_timeout"),
    ):
        assert schedulers.ready() is None
    [record] = caplog.records
    assert record.getMessage().startswith("Scheduler not loaded: ")
    assert "no.such.Backend" in record.getMessage()


def test_a_backend_whose_extra_is_missing_says_which_pip_command(monkeypatch):
    # As on a machine without celery: the backend module fails to import.
    monkeypatch.setitem(sys.modules, "celery", None)
    package = "django_assignment_timeout.schedulers.celery"
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtraError) as caught:
        schedulers.load_scheduler({"BACKEND": CELERY_BACKEND})
    # Passed through as it is, not wrapped in "could not import".
    assert "pip install 'django-assignment-timeout[celery]'" in str(caught.value)
    assert "could not import" not in str(caught.value)


@pytest.mark.django_db
def test_the_periodic_job_reports_expiries_even_when_delivery_fails(driver, caplog):
    StockRequest.objects.create().offer(driver)
    make_due(StockRequest)
    with (
        override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS="not a dict"),
        caplog.at_level(logging.ERROR, logger="django_assignment_timeout"),
    ):
        assert jobs.run_sweep() == {"expired_count": 1}
    assert not StockRequest.objects.due().exists()
    assert any(
        r.getMessage().startswith("Delivery after the sweep failed")
        for r in caplog.records
    )
