"""The refusals of a transition whose UPDATE lost a race it can not see.

An offer, accept or reject is one conditional UPDATE; when it changes no
row, the refusal is diagnosed from a fresh read. If that read finds the row
in a state the UPDATE would have accepted, something changed it in between
(another transaction's offer or answer, then its undo): the refusal says so,
and asks to try again, rather than naming a state the row is no longer in.
Called directly on such a row, since the window between the two statements
can not be held open from outside.
"""

from __future__ import annotations

import pytest
from django.db import router

from django_assignment_timeout.exceptions import AlreadyOffered, NoActiveOffer
from django_assignment_timeout.lifecycle.refusals import (
    why_not_answered,
    why_not_pending,
)
from django_assignment_timeout.options import options_for
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db


def test_an_offer_refused_on_a_row_found_pending_says_it_changed_meanwhile(driver):
    row = StockRequest.objects.create()
    opts = options_for(StockRequest)
    error = why_not_pending(
        StockRequest, opts, row.pk, driver.pk, router.db_for_write(StockRequest)
    )
    assert isinstance(error, AlreadyOffered)
    assert str(error) == "The assignment changed meanwhile; try again."
    assert error.pk == row.pk


def test_an_answer_refused_on_its_own_open_offer_says_it_changed_meanwhile(driver):
    row = StockRequest.objects.create()
    row.offer(driver, timeout=600)
    opts = options_for(StockRequest)
    refusal = why_not_answered(
        StockRequest,
        opts,
        row.pk,
        driver.pk,
        row.assignment_attempt,
        router.db_for_write(StockRequest),
    )
    assert isinstance(refusal.error, NoActiveOffer)
    assert str(refusal.error) == "The offer changed meanwhile; try again."
    assert refusal.due_attempt is None  # not due: nothing to expire on the spot
    row.refresh_from_db()
    assert row.status == "ASSIGNING"  # the diagnosis changes nothing
