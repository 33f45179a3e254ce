"""The jobs every backend runs, the backend loader, and the command in --loop mode."""

from __future__ import annotations

import threading

import pytest
from django.core.checks import Error
from django.test import override_settings

from django_assignment_timeout.exceptions import ConfigurationError, InvalidArgument
from django_assignment_timeout.schedulers import (
    get_scheduler,
    jobs,
    load_scheduler,
    protocol,
)
from django_assignment_timeout.schedulers.command import CommandScheduler
from django_assignment_timeout.testing import make_due
from tests.support.assertions import expired_events, status
from tests.support.polling import wait_for
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest, Ticket

LABEL = "testapp.StockRequest"


@pytest.mark.django_db
def test_expire_offer_before_the_deadline_does_nothing_and_says_how_long_is_left(
    stock_request, driver
):
    stock_request.offer(driver, timeout=30)
    outcome = jobs.expire_offer(LABEL, stock_request.pk, 1)
    assert outcome["expired"] is False
    assert outcome["reason"] == "offer_not_due"
    assert 25 < outcome["retry_in"] <= 30
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)
    assert expired_events(StockRequest, stock_request.pk) == 0


@pytest.mark.django_db
def test_expire_offer_when_due_expires_once(stock_request, driver):
    stock_request.offer(driver)
    make_due(StockRequest, stock_request.pk)
    assert jobs.expire_offer(LABEL, stock_request.pk, 1) == {
        "expired": True,
        "reason": "expired",
        "retry_in": None,
    }
    # A duplicate trigger is a harmless no-op.
    duplicate = jobs.expire_offer(LABEL, stock_request.pk, 1)
    assert duplicate == {
        "expired": False,
        "reason": "no_active_offer",
        "retry_in": None,
    }
    assert status(StockRequest, stock_request.pk) == ("PENDING", 1)
    assert expired_events(StockRequest, stock_request.pk) == 1


@pytest.mark.django_db
def test_stale_task_for_an_earlier_attempt_leaves_the_reoffer_alone(
    stock_request, driver, other_driver
):
    stock_request.offer(driver)
    stock_request.reject(driver)
    stock_request.offer(other_driver)
    make_due(StockRequest, stock_request.pk)  # attempt 2 is due: tempting
    stale = jobs.expire_offer(LABEL, stock_request.pk, 1)
    assert stale["expired"] is False
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 2)
    assert expired_events(StockRequest, stock_request.pk) == 0
    # Control: the task for the current attempt does expire it.
    assert jobs.expire_offer(LABEL, stock_request.pk, 2)["expired"] is True
    assert expired_events(StockRequest, stock_request.pk, attempt=2) == 1


@pytest.mark.django_db
def test_expire_offer_accepts_a_uuid_key_as_a_string(ticket, user):
    ticket.offer(user)
    make_due(Ticket, ticket.pk)
    assert jobs.expire_offer("testapp.Ticket", protocol.task_pk(ticket.pk), 1)[
        "expired"
    ]
    assert expired_events(Ticket, ticket.pk) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "attempt"),
    [
        ("nope.Model", 1),
        ("testapp.Driver", 1),
        ("not a label", 1),
        (LABEL, 0),
        (LABEL, "1"),
    ],
)
def test_expire_offer_bad_arguments_are_typed_errors(label, attempt):
    with pytest.raises(InvalidArgument):
        jobs.expire_offer(label, 1, attempt)


@pytest.mark.django_db(transaction=True)
def test_two_sweep_triggers_at_once_expire_once_and_write_one_event(driver):
    requests = offered_requests(driver, 3)
    make_due(StockRequest)
    barrier = threading.Barrier(2)
    results: list[dict] = []

    def trigger() -> None:
        from django.db import connection

        try:
            barrier.wait(5)
            results.append(jobs.run_sweep())
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r["expired_count"] for r in results) in ([0, 3], [1, 2])
    for request in requests:
        assert expired_events(StockRequest, request.pk) == 1
        assert status(StockRequest, request.pk) == ("PENDING", 1)


def test_task_pk_makes_keys_json_safe():
    import uuid

    key = uuid.uuid4()
    assert protocol.task_pk(key) == str(key)
    assert protocol.task_pk(7) == 7
    assert protocol.task_pk("x") == "x"
    assert protocol.task_pk(True) == "True"


def test_default_scheduler_is_the_command_with_no_precise_mode():
    scheduler = get_scheduler()
    assert isinstance(scheduler, CommandScheduler)
    assert not scheduler.supports_precise_expiry
    assert scheduler.check() == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("nope.Backend", "could not import"),
        ({"OPTIONS": {}}, "must be a dict"),
        (
            {"BACKEND": "django_assignment_timeout.schedulers.jobs.run_sweep"},
            "not a Base",
        ),
        (
            {
                "BACKEND": "django_assignment_timeout.schedulers.base.BaseScheduler",
                "OPTIONS": ["queue"],
            },
            "OPTIONS",
        ),
        (
            {"BACKEND": "django_assignment_timeout.schedulers.base.BaseScheduler"},
            "is abstract; it must implement schedule_delivery, schedule_expiry",
        ),
    ],
)
def test_bad_scheduler_setting_is_a_configuration_error_naming_the_setting(
    config, message
):
    with pytest.raises(ConfigurationError, match=message) as info:
        load_scheduler(config)
    assert "ASSIGNMENT_TIMEOUT_SCHEDULER" in str(info.value)


def test_bad_scheduler_setting_is_check_e020():
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    bad = override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER={"BACKEND": "nope.Backend"})
    with bad, pytest.raises(SystemCheckError, match=r"assignment_timeout\.E020"):
        call_command("check")


def test_unknown_option_is_check_e021():
    scheduler = CommandScheduler("default", {"queue": "x"})
    [error] = scheduler.check()
    assert isinstance(error, Error)
    assert error.id == "assignment_timeout.E021"
    assert "'queue'" in error.msg


@pytest.mark.django_db(transaction=True)
def test_command_loop_subprocess_expires_once_and_stops_cleanly_on_sigterm(
    children, driver
):
    rows = offered_requests(driver, 4)
    make_due(StockRequest)
    # -v 2: an idle tick is printed only then, and the test counts them.
    loop = children.django(
        "loop",
        "expire_assignments",
        "--loop",
        "--interval",
        "0.3",
        "--verbosity",
        "2",
        log_level="INFO",
    )
    with loop:
        # The first sweep runs at once and takes all four.
        wait_for(lambda: "expired 4 in" in loop.output(), 30, "expiry")
        # A few more loop turns must not expire them again.
        wait_for(lambda: loop.output().count("expired 0 in") >= 2, 15, "more sweeps")
        assert loop.stop(15) == 0  # SIGTERM
    output = loop.output()
    assert "received signal 15" in output
    assert output.rstrip().endswith("stopped")
    for row in rows:
        assert expired_events(StockRequest, row.pk) == 1
        assert status(StockRequest, row.pk) == ("PENDING", 1)
