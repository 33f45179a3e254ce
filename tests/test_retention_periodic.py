"""The sweeps prune: once per sweep interval per process, never failing the sweep."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_assignment_timeout import retention
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.retention import prune_periodically
from django_assignment_timeout.schedulers.jobs import run_sweep
from tests.support.retention import events
from tests.testapp.models import Driver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle(monkeypatch):
    # Each test is a new process as far as the once-an-interval rule goes.
    monkeypatch.setattr(retention, "_next_periodic_prune", 0.0)


def left(ids):
    return AssignmentEvent.objects.filter(pk__in=ids).count()


def test_without_retention_nothing_is_pruned_and_nothing_is_throttled():
    ids = events(Driver, range(3))
    assert prune_periodically() is None
    assert left(ids) == 3
    # Unset retention arms no throttle: setting it takes effect at once.
    with override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="90d"):
        assert prune_periodically().deleted == 3


@override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="90d")
def test_prunes_once_per_sweep_interval(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(retention.time, "monotonic", lambda: clock[0])
    first = events(Driver, range(2))
    assert prune_periodically().deleted == 2

    second = events(Driver, range(2, 4))
    clock[0] += 59.0  # the default sweep interval is 60 s
    assert prune_periodically() is None
    assert left(second) == 2

    clock[0] += 1.0
    assert prune_periodically().deleted == 2
    assert left(first + second) == 0


@override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="90d")
def test_a_failing_prune_is_logged_not_raised(monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(retention, "prune_if_configured", broken)
    with caplog.at_level(logging.ERROR, logger="django_assignment_timeout.retention"):
        assert prune_periodically() is None
    assert "Pruning old events failed" in caplog.text


@override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="soon")
def test_a_bad_setting_is_logged_not_raised(caplog):
    with caplog.at_level(logging.ERROR, logger="django_assignment_timeout.retention"):
        assert prune_periodically() is None
    assert "ASSIGNMENT_TIMEOUT_EVENT_RETENTION" in caplog.text


@override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="90d")
def test_the_sweep_job_prunes_old_delivered_events_and_keeps_recent_ones():
    old = events(Driver, range(3))
    recent = events(Driver, range(3, 5), days=10)
    run_sweep()
    assert (left(old), left(recent)) == (0, 2)


@override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="90d")
def test_a_cron_run_of_expire_assignments_prunes():
    old = events(Driver, range(3))
    call_command("expire_assignments", verbosity=0)
    assert left(old) == 0


def test_without_retention_the_sweep_job_keeps_every_event():
    old = events(Driver, range(3))
    run_sweep()
    call_command("expire_assignments", verbosity=0)
    assert left(old) == 3
