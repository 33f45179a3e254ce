"""The admin form guard on forms a project writes itself.

``lifecycle_guarded`` wraps any ModelForm of an adopting model, not only the
admin's generated one: a status field declared by hand without choices, or
with grouped choices, and an offered row whose status the change form shows
as read-only, are guarded the same way. Called on the forms directly, since
the admin's change form makes the offered row's status read-only before the
guard sees it.
"""

from __future__ import annotations

import pytest
from django import forms

from django_assignment_timeout.admin.guard import LIFECYCLE_ONLY, lifecycle_guarded
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db

GROUPED = [
    (
        "Offer",
        [("PENDING", "Pending"), ("ASSIGNING", "Assigning"), ("ASSIGNED", "Assigned")],
    ),
    ("Delivery", [("IN_TRANSIT", "In transit"), ("DELIVERED", "Delivered")]),
]


class PlainStatusForm(forms.ModelForm):
    """A status typed as text: no choices for the guard to filter."""

    status = forms.CharField(max_length=20)

    class Meta:
        model = StockRequest
        fields = ["status", "note", "target_driver"]


class GroupedStatusForm(forms.ModelForm):
    """A status whose choices are grouped, as a project may show them."""

    status = forms.ChoiceField(choices=GROUPED)

    class Meta:
        model = StockRequest
        fields = ["status", "note"]


def fields(**values):
    return {"status": "PENDING", "note": "", **values}


def accepted_row(driver):
    row = StockRequest.objects.create()
    row.offer(driver)
    row.accept(driver)
    assert row.status == "ASSIGNED"
    return row


def test_an_offered_rows_status_is_disabled_and_a_posted_one_is_ignored(driver):
    row = StockRequest.objects.create()
    row.offer(driver)
    form = lifecycle_guarded(PlainStatusForm)(
        data=fields(status="PENDING", note="edited"), instance=row
    )
    assert form.fields["status"].disabled
    assert form.fields["target_driver"].disabled
    assert form.is_valid(), form.errors
    # The disabled field keeps the running offer's state, whatever was posted.
    assert form.cleaned_data["status"] == "ASSIGNING"
    assert form.cleaned_data["target_driver"] == driver
    assert form.cleaned_data["note"] == "edited"


@pytest.mark.parametrize(
    ("posted", "valid"),
    [
        ("PENDING", True),  # its own state kept
        ("IN_TRANSIT", True),  # a project state
        ("ASSIGNING", False),  # lifecycle states only through the lifecycle
        ("ASSIGNED", False),
    ],
)
def test_a_status_without_choices_is_guarded_by_the_validator(posted, valid):
    row = StockRequest.objects.create()
    form = lifecycle_guarded(PlainStatusForm)(data=fields(status=posted), instance=row)
    assert form.is_valid() is valid
    if not valid:
        [error] = form.errors.as_data()["status"]
        assert error.code == "lifecycle_only"
        assert error.message == LIFECYCLE_ONLY


@pytest.mark.parametrize(
    ("posted", "valid"), [("PENDING", True), ("IN_TRANSIT", False)]
)
def test_a_new_row_without_choices_is_created_pending_only(posted, valid):
    form = lifecycle_guarded(PlainStatusForm)(data=fields(status=posted))
    assert form.initial["status"] == "PENDING"
    assert form.is_valid() is valid


def test_grouped_choices_keep_their_groups_and_drop_the_emptied_ones():
    form = lifecycle_guarded(GroupedStatusForm)()
    # A new row: pending only, so the delivery group is left empty and dropped.
    assert list(form.fields["status"].choices) == [("Offer", [("PENDING", "Pending")])]


def test_grouped_choices_of_an_accepted_row_offer_its_state_and_the_projects(driver):
    row = accepted_row(driver)
    form = lifecycle_guarded(GroupedStatusForm)(instance=row)
    assert list(form.fields["status"].choices) == [
        ("Offer", [("ASSIGNED", "Assigned")]),
        ("Delivery", [("IN_TRANSIT", "In transit"), ("DELIVERED", "Delivered")]),
    ]
    refused = lifecycle_guarded(GroupedStatusForm)(
        data=fields(status="PENDING"), instance=row
    )
    assert not refused.is_valid()
    assert str(LIFECYCLE_ONLY) in str(refused.errors["status"])
    moved_on = lifecycle_guarded(GroupedStatusForm)(
        data=fields(status="IN_TRANSIT"), instance=row
    )
    assert moved_on.is_valid(), moved_on.errors
