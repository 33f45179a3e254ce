"""A failing signal receiver: logged once, with its traceback, and harmless.

The signals are sent after commit by ``after_commit.send_signal`` through
Django's ``send_robust()``, which logs each failure itself; a second record of
our own used to repeat the traceback.
"""

from __future__ import annotations

import logging

import pytest

from django_assignment_timeout import signals
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db


class ReceiverBroke(Exception):
    pass


@pytest.fixture
def failing_and_working_receivers():
    calls = []

    def failing(sender, **kwargs):
        raise ReceiverBroke("cache is down")

    def working(sender, **kwargs):
        calls.append(sender)

    for signal in (signals.assignment_offered, signals.assignment_expired):
        signal.connect(failing, sender=StockRequest, weak=False)
        signal.connect(working, sender=StockRequest, weak=False)
    yield calls
    for signal in (signals.assignment_offered, signals.assignment_expired):
        signal.disconnect(failing, sender=StockRequest)
        signal.disconnect(working, sender=StockRequest)


def failure_records(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_failing_receiver_is_logged_once_with_its_traceback(
    failing_and_working_receivers, driver, caplog, django_capture_on_commit_callbacks
):
    request = StockRequest.objects.create()
    with (
        caplog.at_level(logging.ERROR),
        django_capture_on_commit_callbacks(execute=True),
    ):
        request.offer(driver)

    (record,) = failure_records(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ReceiverBroke)
    assert record.name == "django.dispatch"  # the logger signals.rst names
    assert "failing" in record.getMessage()
    # The other receiver ran and the offer stands.
    assert failing_and_working_receivers == [StockRequest]
    request.refresh_from_db()
    assert request.status == "ASSIGNING"


def test_a_failing_expiry_receiver_is_logged_once_per_batch(
    failing_and_working_receivers, driver, caplog, django_capture_on_commit_callbacks
):
    StockRequest.objects.create().offer(driver)
    make_due(StockRequest)
    with (
        caplog.at_level(logging.ERROR),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sweep().expired_count == 1
    (record,) = failure_records(caplog)
    assert isinstance(record.exc_info[1], ReceiverBroke)
