"""The example's /health/: the database, the sweeper, the outbox, overdue offers."""

from __future__ import annotations

import json

import pytest

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.heartbeat import SweeperHeartbeat, forget_beats
from django_assignment_timeout.sweep import sweep

# The checks run in an executor thread with its own connection: rows must be
# committed for it to see them.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    forget_beats()
    yield
    forget_beats()


def checks(client):
    response = client.get("/health/", {"format": "json"})
    return response.status_code, {
        name.split("(")[0]: text for name, text in json.loads(response.content).items()
    }


def test_health_fails_until_the_sweeper_has_run_and_when_it_stops(client):
    status, report = checks(client)
    assert status == 500
    assert report["SweeperHealthCheck"] == (
        "Unavailable: logistics.StockRequest was never swept"
    )
    assert report["Database"] == "OK"
    sweep()
    assert checks(client) == (
        200,
        {
            "Database": "OK",
            "SweeperHealthCheck": "OK",
            "OutboxHealthCheck": "OK",
            "DueOffersHealthCheck": "OK",
        },
    )
    # Two intervals (120 s by default) without a sweep: unhealthy again.
    SweeperHeartbeat.objects.update(last_run_at=deadline_in(-150))
    status, report = checks(client)
    assert status == 500
    assert report["SweeperHealthCheck"].startswith(
        "Unavailable: logistics.StockRequest last swept 15"
    )


def test_the_html_page_renders(client):
    sweep()
    response = client.get("/health/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "SweeperHealthCheck" in response.content.decode()
