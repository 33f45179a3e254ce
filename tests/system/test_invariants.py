"""The audit the system tests end with must itself catch what it looks for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.testing import make_due
from tests.system.invariants import violations
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def offered():
    driver = Driver.objects.create(name="Ravi")
    request = StockRequest.objects.create()
    request.offer(driver)
    return request, driver


def _event(request, kind, **fields):
    return AssignmentEvent.objects.create(
        content_type=ContentType.objects.get_for_model(StockRequest),
        object_pk=str(request.pk),
        attempt=fields.pop("attempt", 1),
        kind=kind,
        **fields,
    )


def test_a_clean_history_passes(offered):
    request, driver = offered
    make_due(StockRequest)
    StockRequest.objects.expire(request.pk)
    request.offer(driver)
    request.accept(driver)
    assert violations(StockRequest) == []


def test_two_endings_of_one_offer_are_flagged(offered):
    request, driver = offered
    request.accept(driver)
    _event(request, "expired")
    found = violations(StockRequest)
    assert any("terminal events ['accepted', 'expired']" in v for v in found)
    assert any("accepted but attempt 1 ended" in v for v in found)


def test_an_open_offer_with_an_ending_is_flagged(offered):
    request, _driver = offered
    _event(request, "rejected")
    assert any("offered but attempt 1 ended" in v for v in violations(StockRequest))


def test_an_expiry_before_the_deadline_is_flagged_unless_forced(offered):
    request, _driver = offered
    StockRequest.objects.expire(request.pk, force=True)
    assert any("expired at" in v for v in violations(StockRequest))
    assert violations(StockRequest, forced=True) == []


def test_an_accept_after_the_deadline_is_flagged(offered):
    request, driver = offered
    request.accept(driver)
    offer = AssignmentEvent.objects.get(kind="offered")
    accepted = AssignmentEvent.objects.get(kind="accepted")
    offer.deadline = accepted.created_at - timedelta(seconds=1)
    offer.save(update_fields=["deadline"])
    assert any("after the deadline" in v for v in violations(StockRequest))
    assert violations(StockRequest, offer_deadlines=False) == []


def test_a_missing_offer_event_is_flagged(offered):
    AssignmentEvent.objects.filter(kind="offered").delete()
    assert any("0 offered events" in v for v in violations(StockRequest))
