"""Settings: declared once, read at each access, defaults on django.conf.settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings

from django_assignment_timeout.conf import (
    AppSettings,
    Setting,
    app_settings,
    sweep_interval,
)
from django_assignment_timeout.exceptions import ConfigurationError


def test_each_setting_is_declared_once_with_its_prefixed_name():
    declared = AppSettings.declared()
    assert isinstance(AppSettings.SECONDS, Setting)
    assert AppSettings.SECONDS.name == "ASSIGNMENT_TIMEOUT_SECONDS"
    assert declared["BATCH_SIZE"] is AppSettings.BATCH_SIZE
    assert set(declared) >= {"SECONDS", "SCHEDULER", "NOTIFIERS", "DELIVERY_LEASE"}


def test_the_app_put_every_default_on_django_settings():
    for name, setting in AppSettings.declared().items():
        assert hasattr(django_settings, f"ASSIGNMENT_TIMEOUT_{name}"), name
        assert setting.name == f"ASSIGNMENT_TIMEOUT_{name}"


def test_values_are_read_at_each_access(settings):
    settings.ASSIGNMENT_TIMEOUT_SECONDS = 42
    assert app_settings.SECONDS == 42
    settings.ASSIGNMENT_TIMEOUT_SECONDS = "90"  # as an environment gives it
    assert app_settings.SECONDS == "90"


def test_an_unset_setting_reads_its_default(settings):
    # As before the app is ready (a project's celery.py imports a backend
    # while settings load): nothing is on settings yet, the default applies.
    del settings.ASSIGNMENT_TIMEOUT_MAX_BATCHES
    assert not hasattr(django_settings, "ASSIGNMENT_TIMEOUT_MAX_BATCHES")
    assert app_settings.MAX_BATCHES == AppSettings.MAX_BATCHES.default == 200


@pytest.mark.parametrize(
    ("value", "seconds"), [(60, 60.0), ("90", 90.0), (timedelta(minutes=2), 120.0)]
)
def test_the_sweep_interval_is_read_by_the_rule_check_e011_applies(
    settings, value, seconds
):
    settings.ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = value
    assert sweep_interval() == seconds


@pytest.mark.parametrize("value", ["often", 0, -5, True, None])
def test_a_bad_sweep_interval_is_a_configuration_error_naming_it(settings, value):
    settings.ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = value
    with pytest.raises(ConfigurationError, match="ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL"):
        sweep_interval()
