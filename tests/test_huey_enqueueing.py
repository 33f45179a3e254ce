"""What the Huey scheduler enqueues, and what its checks warn of, in a real Huey.

``precise`` and ``deliver`` off enqueue nothing, on they enqueue the
``expire_offer`` task at the deadline and a ``deliver`` task; an
``expire_offer`` run before the deadline (a consumer whose clock runs
ahead) expires nothing and schedules its own re-check for the time the
database says is left. With ``DEBUG`` on and no ``immediate`` in ``HUEY``,
djhuey turns immediate mode on, which check W027 reports. Each in a child
of its own, since djhuey reads ``HUEY`` once, when imported.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.schedulers.huey import HueyScheduler
from tests.support.assertions import status
from tests.support.children import child_env, json_line, run_python
from tests.testapp.models import StockRequest

BACKEND = "django_assignment_timeout.schedulers.huey.HueyScheduler"


def probe(*args, **settings):
    env = child_env(
        settings={"ASSIGNMENT_TIMEOUT_SCHEDULER": {"BACKEND": BACKEND}, **settings}
    )
    return json_line(
        run_python("-m", "tests.support.huey_probe", *args, env=env, timeout=60)
    )


def utc(eta: str) -> datetime:
    moment = datetime.fromisoformat(eta)  # Huey keeps naive UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("huey", "debug", "warned"),
    [
        ({"huey_class": "huey.MemoryHuey"}, True, True),  # djhuey: immediate = DEBUG
        ({"huey_class": "huey.MemoryHuey", "immediate": False}, True, False),
        ({"huey_class": "huey.MemoryHuey"}, False, False),
    ],
)
def test_w027_warns_when_debug_turns_huey_immediate(huey, debug, warned):
    found = probe("checks", HUEY={"name": "probe", **huey}, DEBUG=debug)
    assert ("assignment_timeout.W027" in found["checks"]) is warned
    assert "assignment_timeout.E022" not in found["checks"]


@pytest.mark.django_db(transaction=True)
def test_the_switches_and_an_early_run_enqueue_what_they_say(tmp_path, driver):
    row = StockRequest.objects.create()
    row.offer(driver, timeout=600)
    huey = {
        "huey_class": "huey.SqliteHuey",
        "name": "probe",
        "filename": str(tmp_path / "huey.db"),
        "immediate": False,
    }

    found = probe("schedule", str(row.pk), "1", HUEY=huey)

    assert found["off"] == []
    expiry, delivery = found["on"]
    assert (expiry["name"], expiry["args"]) == (
        "expire_offer",
        ["testapp.StockRequest", row.pk, 1],
    )
    deadline = datetime.fromisoformat(found["deadline"])
    assert abs((utc(expiry["eta"]) - deadline).total_seconds()) < 1
    assert (delivery["name"], delivery["eta"]) == ("deliver", None)
    # Early: nothing expired, and a re-check (recheck=1) due about the
    # deadline, not a new sweep's worth of waiting.
    assert found["early_outcome"]["expired"] is False
    assert 0 < found["early_outcome"]["retry_in"] <= 600
    assert status(StockRequest, row.pk) == ("ASSIGNING", 1)
    [recheck] = found["early"]
    assert (recheck["name"], recheck["args"]) == (
        "expire_offer",
        ["testapp.StockRequest", row.pk, 1, 1],
    )
    assert abs((utc(recheck["eta"]) - deadline).total_seconds()) < 5


def test_switched_off_nothing_is_enqueued_even_without_huey():
    # Unconfigured Huey: an enqueue would raise, so nothing was tried.
    off = HueyScheduler("default", {"precise": False, "deliver": False})
    off.schedule_expiry(StockRequest, 1, 1, datetime.now(timezone.utc))
    off.schedule_delivery()
    with pytest.raises(ConfigurationError, match="E022"):
        HueyScheduler("default", {}).schedule_delivery()
