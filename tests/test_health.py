"""The django-health-check plugin: a stopped sweeper, a stuck outbox, overdue offers.

The checks run as django-health-check runs them (``HealthCheckView``, each
synchronous check in an executor thread with its own connection), so these
tests commit their rows (``transaction=True``) for that thread to see them.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import path
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.exceptions import InvalidArgument, MissingExtraError
from django_assignment_timeout.health import (
    CHECKS,
    DueOffersHealthCheck,
    OutboxHealthCheck,
    SweeperHealthCheck,
)
from django_assignment_timeout.heartbeat import SweeperHeartbeat
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.support.children import run_python
from tests.support.polling import wait_for
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest

urlpatterns = [
    path("health/", HealthCheckView.as_view(checks=CHECKS)),
    path(
        "health/strict/",
        HealthCheckView.as_view(
            checks=[
                ("django_assignment_timeout.health.OutboxHealthCheck", {"max_age": 5}),
                (
                    "django_assignment_timeout.health.SweeperHealthCheck",
                    {"intervals": 1},
                ),
            ]
        ),
    ),
]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


def health(client, url="/health/"):
    """(HTTP status, {check: "OK" or its error}) as the JSON view reports them."""
    response = client.get(url, {"format": "json"})
    return response.status_code, json.loads(response.content)


def errors(client, url="/health/"):
    _status, checks = health(client, url)
    return {name: text for name, text in checks.items() if text != "OK"}


def test_a_project_that_was_never_swept_is_unhealthy(client):
    status, checks = health(client)
    assert status == 500
    assert checks == {
        "SweeperHealthCheck(using=None, intervals=2.0)": (
            "Unavailable: testapp.StockRequest was never swept; "
            "testapp.Ticket was never swept; testapp.Job was never swept; "
            "testapp.Load was never swept"
        ),
        "OutboxHealthCheck(using=None, max_age=300.0)": "OK",
        "DueOffersHealthCheck(using=None, intervals=3.0)": "OK",
    }


def test_a_fresh_sweep_makes_it_healthy_and_a_stale_one_does_not(client):
    sweep()
    assert health(client) == (200, dict.fromkeys(health(client)[1], "OK"))
    SweeperHeartbeat.objects.filter(name="testapp.Ticket").update(
        last_run_at=deadline_in(-121)
    )
    [(name, text)] = errors(client).items()
    assert name.startswith("SweeperHealthCheck")
    assert text.startswith("Unavailable: testapp.Ticket last swept 12")
    assert text.endswith(" s ago (limit 120 s)")


def test_an_old_undelivered_event_fails_the_outbox_check(client, driver):
    sweep()
    offered_requests(driver, 1)
    assert errors(client) == {}
    AssignmentEvent.objects.update(created_at=deadline_in(-301))
    [(name, text)] = errors(client).items()
    assert name.startswith("OutboxHealthCheck")
    assert text.startswith("Unavailable: the oldest undelivered event is 30")
    assert text.endswith("s old (limit 300 s)")
    # Delivered (or dead) events are not waiting: the check passes again.
    AssignmentEvent.objects.update(next_attempt_at=None, delivery_state="delivered")
    assert errors(client) == {}


def test_an_offer_overdue_by_more_than_n_intervals_fails(client, driver):
    offered_requests(driver, 2)
    sweep()
    make_due(StockRequest, seconds_ago=100)  # not three intervals (180 s) yet
    assert errors(client) == {}
    make_due(StockRequest, seconds_ago=200)
    [(name, text)] = errors(client).items()
    assert name.startswith("DueOffersHealthCheck")
    assert text.startswith("Unavailable: testapp.StockRequest has 2 due offer(s), the ")
    assert text.endswith(" s overdue (limit 180 s)")


def test_options_tighten_the_limits(client, driver):
    sweep()
    offered_requests(driver, 1)
    AssignmentEvent.objects.update(created_at=deadline_in(-10))
    failing = errors(client, "/health/strict/")
    assert list(failing) == ["OutboxHealthCheck(using=None, max_age=5)"]


@pytest.mark.parametrize(
    ("check", "options"),
    [
        (SweeperHealthCheck, {"intervals": 0}),
        (OutboxHealthCheck, {"max_age": -1}),
        (DueOffersHealthCheck, {"intervals": "three"}),
    ],
)
def test_a_bad_option_is_an_invalid_argument(check, options):
    with pytest.raises(InvalidArgument, match="must be a positive number"):
        check(**options)


def test_an_invalid_interval_is_reported_not_raised():
    with override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL="soon"):
        with pytest.raises(ServiceUnavailable, match="see check E011"):
            SweeperHealthCheck().run()
        with pytest.raises(ServiceUnavailable, match="see check E011"):
            DueOffersHealthCheck().run()


def test_a_database_error_is_unavailable_without_the_drivers_message():
    with connection.schema_editor() as editor:
        editor.delete_model(SweeperHeartbeat)
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            SweeperHealthCheck().run()
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(SweeperHeartbeat)
    text = str(raised.value)
    assert text.startswith("Unavailable: database error reading the status: ")
    assert "heartbeat" not in text  # the driver's message stays in the log
    with pytest.raises(ServiceUnavailable, match="no database alias 'nowhere'"):
        OutboxHealthCheck(using="nowhere").run()


def test_the_missing_extra_names_the_pip_command():
    done = run_python(
        "-m",
        "tests.support.missing_extra",
        "health_check",
        "django_assignment_timeout.health",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'django-assignment-timeout[health]'" in done.stdout
    assert issubclass(MissingExtraError, Exception)


def test_fails_with_the_sweeper_stopped_and_passes_with_it_running(
    children, client, driver, settings
):
    """The acceptance: a real ``expire_assignments --loop`` process."""
    settings.ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = 1.0  # limit: two seconds
    rows = offered_requests(driver, 3)
    make_due(StockRequest, seconds_ago=600)
    failing = errors(client)
    assert set(failing) == {
        "SweeperHealthCheck(using=None, intervals=2.0)",
        "DueOffersHealthCheck(using=None, intervals=3.0)",
    }
    loop = children.django(
        "sweeper", "expire_assignments", "--loop", sweep_interval=1.0
    )
    with loop:
        wait_for(lambda: loop.alive() and errors(client) == {}, 60, "a healthy report")
        assert not StockRequest.objects.filter(status="ASSIGNING").exists()
        assert len(rows) == AssignmentEvent.objects.filter(kind="expired").count()
    assert loop.process.returncode == 0, loop.report()
    # Stopped: within two intervals of its last heartbeat the check fails.
    stale = wait_for(lambda: errors(client), 30, "an unhealthy report")
    assert list(stale) == ["SweeperHealthCheck(using=None, intervals=2.0)"]
    assert "last swept" in stale["SweeperHealthCheck(using=None, intervals=2.0)"]
