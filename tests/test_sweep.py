"""The sweep: what it expires, what it leaves alone, its limits and its result."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import batch as sweep_batch
from django_assignment_timeout.sweep import count_due, sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db


def test_sweep_expires_only_due_offers(driver, other_driver, user):
    due = offered_requests(driver, 3, assignment_mode="AUTO")
    offered_requests(other_driver, 2)  # not due yet
    make_due(StockRequest, *(r.pk for r in due))
    taken = offered_requests(driver, 1)[0]
    taken.accept(driver)
    StockRequest.objects.create(status="IN_TRANSIT")
    ticket = Ticket.objects.create()
    ticket.offer(user, queue="x")
    make_due(Ticket)

    result = sweep()

    assert result.expired_count == 4
    assert result.by_model == {"testapp.StockRequest": 3, "testapp.Ticket": 1}
    assert result.as_dict() == {"expired_count": 4}
    assert not result.has_more
    for row in due:
        row.refresh_from_db()
        assert (row.status, row.target_driver_id, row.assignment_mode) == (
            "PENDING",
            None,
            None,
        )
        assert row.assignment_expires_at is None and row.assignment_started_at is None
        assert row.assignment_attempt == 1
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignee_id, ticket.queue) == (0, None, "")
    assert sorted(StockRequest.objects.values_list("status", flat=True)) == sorted(
        ["PENDING"] * 3 + ["ASSIGNING"] * 2 + ["ASSIGNED", "IN_TRANSIT"]
    )
    expired = AssignmentEvent.objects.filter(kind="expired")
    assert expired.count() == 4
    for event in expired.filter(object_pk__in=[str(r.pk) for r in due]):
        assert (event.attempt, event.assignee_pk) == (1, str(driver.pk))
        assert event.deadline is not None and event.created_at >= event.deadline
    assert sweep().expired_count == 0  # nothing left: a second run is harmless


def test_sweep_one_model_and_a_queryset(driver, user):
    rows = offered_requests(driver, 4)
    ticket = Ticket.objects.create()
    ticket.offer(user)
    make_due(StockRequest)
    make_due(Ticket)
    assert count_due() == {
        "testapp.StockRequest": 4,
        "testapp.Ticket": 1,
        "testapp.Job": 0,
        "testapp.Load": 0,
    }
    assert count_due([Ticket]) == {"testapp.Ticket": 1}
    assert sweep([Ticket]).by_model == {"testapp.Ticket": 1}
    subset = StockRequest.objects.filter(pk__in=[rows[0].pk, rows[1].pk])
    assert subset.expire_due().expired_count == 2
    assert count_due() == {
        "testapp.StockRequest": 2,
        "testapp.Ticket": 0,
        "testapp.Job": 0,
        "testapp.Load": 0,
    }


def test_batches_and_the_batch_limit(driver):
    offered_requests(driver, 7)
    make_due(StockRequest)
    result = sweep([StockRequest], batch_size=3, max_batches=2)
    assert (result.expired_count, result.batches, result.has_more) == (6, 2, True)
    result = sweep([StockRequest], batch_size=3, max_batches=2)
    assert (result.expired_count, result.batches, result.has_more) == (1, 1, False)


def test_the_batch_limit_is_shared_across_models(driver, user):
    offered_requests(driver, 2)
    Ticket.objects.create().offer(user)
    make_due(StockRequest)
    make_due(Ticket)
    result = sweep(batch_size=2, max_batches=1)
    assert (result.expired_count, result.has_more) == (2, True)
    assert sweep(batch_size=2, max_batches=1).expired_count == 1


def test_settings_give_the_default_limits(driver):
    offered_requests(driver, 5)
    make_due(StockRequest)
    with override_settings(
        ASSIGNMENT_TIMEOUT_BATCH_SIZE=2, ASSIGNMENT_TIMEOUT_MAX_BATCHES=2
    ):
        result = sweep()
    assert (result.expired_count, result.batches, result.has_more) == (4, 2, True)


def test_a_batch_larger_than_the_portable_cap_still_sweeps_everything(
    monkeypatch, driver
):
    # Regression: the loop compared the capped batch with the requested size
    # and stopped after one batch, reporting nothing more to do.
    monkeypatch.setattr(sweep_batch, "PORTABLE_MAX_BATCH", 2)
    offered_requests(driver, 5)
    make_due(StockRequest)
    result = sweep([StockRequest], batch_size=10)
    assert (result.expired_count, result.has_more) == (5, False)


@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True, None])
def test_bad_limits_are_invalid_argument(db, value):
    if value is not None:
        with pytest.raises(InvalidArgument):
            sweep(batch_size=value)
        with pytest.raises(InvalidArgument):
            sweep(max_batches=value)
    with (
        override_settings(ASSIGNMENT_TIMEOUT_BATCH_SIZE=value),
        pytest.raises(InvalidArgument),
    ):
        sweep()
