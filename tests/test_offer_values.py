"""offer(**values): each extra value is cleaned as full_clean would, or refused typed."""

from __future__ import annotations

import pytest
from django.db import router

from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.lifecycle.arguments import offer_values
from django_assignment_timeout.options import options_for
from tests.testapp.models import Driver, StockRequest, Ticket


def clean(model, **values):
    return offer_values(options_for(model), values, router.db_for_write(model))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "values", "argument", "says"),
    [
        (StockRequest, {"note": None}, "note", "can not be None"),
        (StockRequest, {"note": "x" * 51}, "note", "is not a valid note"),
        (Ticket, {"priority": "high"}, "priority", "priority"),
        (Ticket, {"priority": 2.5}, "priority", "priority"),
    ],
)
def test_a_value_the_column_can_not_hold_is_invalid_argument(
    model, values, argument, says
):
    with pytest.raises(InvalidArgument, match=says) as caught:
        clean(model, **values)
    assert caught.value.argument == argument
    assert caught.value.http_status == 400


@pytest.mark.django_db
def test_good_values_are_cleaned_to_the_columns_python_values():
    assert clean(StockRequest, note="urgent", assignment_mode=None) == {
        "note": "urgent",
        "assignment_mode": None,
    }
    assert clean(Ticket, priority="3") == {"priority": 3}


@pytest.mark.django_db
def test_a_foreign_key_value_must_name_a_row_that_exists(django_user_model):
    # _related, through the field it serves: an FK the offer may set. The
    # test models' only foreign keys are their assignees, so call the
    # cleaning of one directly.
    from django_assignment_timeout.lifecycle.arguments import _clean

    field = Ticket._meta.get_field("assignee")
    using = router.db_for_write(Ticket)
    user = django_user_model.objects.create(username="someone")
    assert _clean(field, user, "assignee", using) is user
    assert _clean(field, str(user.pk), "assignee", using) == user.pk
    with pytest.raises(InvalidArgument, match="does not exist"):
        _clean(field, user.pk + 1000, "assignee", using)
    with pytest.raises(InvalidArgument, match="refers to"):
        _clean(field, Driver.objects.create(name="Ravi"), "assignee", using)
