"""Settings: declared once, read at each access, defaults on django.conf.settings."""

from __future__ import annotations

from django.conf import settings as django_settings

from django_assignment_timeout.conf import AppSettings, Setting, app_settings


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
