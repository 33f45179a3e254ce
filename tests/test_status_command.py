"""``manage.py assignment_status``: the summary an operator reads, and its JSON."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db


def status(*args):
    out = StringIO()
    call_command("assignment_status", *args, stdout=out)
    return out.getvalue()


def test_a_fresh_project_says_nothing_was_swept():
    text = status()
    assert re.match(r"Status at \S+ \(database clock\), sweep interval 60 s\n", text)
    assert "testapp.StockRequest: 0 open, 0 due; never swept" in text
    assert "Sweeper: never swept testapp.StockRequest, testapp.Ticket" in text
    assert "Outbox: 0 pending, 0 dead" in text
    assert "Lateness (last 60 min): no expiries" in text


def test_the_summary_of_a_busy_project(driver):
    rows = offered_requests(driver, 3)
    make_due(StockRequest, rows[0].pk, seconds_ago=20)
    sweep()
    make_due(StockRequest, rows[1].pk, seconds_ago=5)
    AssignmentEvent.objects.filter(pk=AssignmentEvent.objects.first().pk).update(
        delivery_state=DeliveryState.DEAD, next_attempt_at=None
    )
    text = status()
    assert re.search(
        r"testapp\.StockRequest: 2 open, 1 due \(oldest \d+\.\d s overdue\); "
        r"swept \d+\.\d s ago by \S+:\d+",
        text,
    ), text
    assert re.search(r"Sweeper: every model swept within the last \d+\.\d s", text)
    assert re.search(r"Outbox: 3 pending \(oldest \d+\.\d s old\), 1 dead", text)
    assert re.search(
        r"Lateness \(last 60 min, 1 expiries\): p50 2\d\.\d s, p99 2\d\.\d s, "
        r"max 2\d\.\d s",
        text,
    ), text


def test_json_and_the_model_filter(driver):
    offered_requests(driver, 2)
    data = json.loads(status("--json", "--model", "testapp.StockRequest"))
    assert [m["model"] for m in data["models"]] == ["testapp.StockRequest"]
    assert data["models"][0]["open_offers"] == 2
    assert data["outbox"]["backlog"] == 2
    assert data["sweeper"] == {"last_run_at": None, "age_seconds": None}
    text = status("--model", "testapp.Ticket", "--database", "default")
    assert "StockRequest" not in text and "testapp.Ticket: 0 open" in text


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("StockRequest", "is not of the form APP_LABEL.MODEL"),
        ("testapp.Nope", "Unknown model 'testapp.Nope'"),
        ("testapp.Driver", "testapp.Driver does not use ExpiringAssignmentMixin"),
    ],
)
def test_a_bad_model_label_is_a_command_error(label, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        status("--model", label)


def test_an_invalid_interval_is_shown_not_raised(settings):
    settings.ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = "soon"
    assert "sweep interval invalid" in status()
