"""The edges of an offer's arguments: values, keys, text and the callable timeout.

What the lifecycle tests do not reach: an offer value that is an expression
or a field no UPDATE can set, a custom integer column Django has no range
for, a key parsed through a relation, text no database can encode, and a
callable timeout given an assignee key that names no row.
"""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from django.db import connection, models, router
from django.db.models import F
from django.test.utils import isolate_apps

from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.lifecycle.arguments import offer_seconds, offer_values
from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.options import integer_range, options_for, parse_key
from django_assignment_timeout.validation import require_text
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db


class CounterField(models.IntegerField):
    """An integer column of a type Django's backends know no range for."""

    def get_internal_type(self) -> str:
        return "CounterField"


def using(model):
    return router.db_for_write(model)


def test_an_expression_value_is_passed_to_the_update_unchanged(user):
    ticket = Ticket.objects.create(priority=4)
    bump = F("priority") + 1
    assert offer_values(options_for(Ticket), {"priority": bump}, using(Ticket)) == {
        "priority": bump
    }
    ticket.offer(user, priority=bump)
    ticket.refresh_from_db()
    assert (ticket.state, ticket.priority) == (1, 5)


@isolate_apps("tests.testapp")
def test_a_many_to_many_or_reverse_field_can_not_be_set_by_an_offer():
    class Crew(models.Model):  # noqa: DJ008 - never shown
        class Meta:
            app_label = "testapp"

    class Job(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10, default="pending")
        assignee = models.ForeignKey(
            Crew, null=True, on_delete=models.SET_NULL, related_name="+"
        )
        helpers = models.ManyToManyField(Crew, related_name="+")

        class Meta:
            app_label = "testapp"

    class Note(models.Model):  # noqa: DJ008 - never shown
        job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="notes")

        class Meta:
            app_label = "testapp"

    opts = options_for(Job)
    for name in ("helpers", "notes"):
        with pytest.raises(
            InvalidArgument, match="can not be set by an offer"
        ) as caught:
            offer_values(opts, {name: []}, "default")
        assert caught.value.argument == name


@isolate_apps("tests.testapp")
def test_a_value_of_another_type_is_cleaned_by_its_field():
    class Crew(models.Model):  # noqa: DJ008 - never shown
        class Meta:
            app_label = "testapp"

    class Visit(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10, default="pending")
        assignee = models.ForeignKey(
            Crew, null=True, on_delete=models.SET_NULL, related_name="+"
        )
        day = models.DateField(null=True)

        class Meta:
            app_label = "testapp"

    opts = options_for(Visit)
    assert offer_values(opts, {"day": "2026-01-02"}, "default") == {
        "day": datetime.date(2026, 1, 2)
    }
    with pytest.raises(InvalidArgument, match="is not a valid day") as caught:
        offer_values(opts, {"day": "soon"}, "default")
    assert caught.value.argument == "day"


def test_a_custom_integer_column_gets_the_range_the_backend_knows_or_none():
    field = CounterField()
    if connection.vendor == "sqlite":
        # SQLite's operations give every integer type its 64-bit range.
        assert integer_range(field, "default") == (-(2**63), 2**63 - 1)
        with pytest.raises(InvalidArgument, match="pk"):
            parse_key(field, str(10**30), "pk", "default")
    else:
        # PostgreSQL and MySQL list ranges per type: none for this one, so
        # no bound is imposed that Django does not know.
        assert integer_range(field, "default") == (None, None)
        assert parse_key(field, str(10**30), "pk", "default") == 10**30
    assert parse_key(field, "12", "pk", "default") == 12
    with pytest.raises(InvalidArgument, match="pk"):
        parse_key(field, "12.7", "pk", "default")


def test_a_key_through_a_relation_is_parsed_as_the_key_it_points_to():
    relation = StockRequest._meta.get_field("target_driver")
    assert parse_key(relation, "12", "assignee", using(StockRequest)) == 12
    with pytest.raises(InvalidArgument) as caught:
        parse_key(relation, "twelve", "assignee", using(StockRequest))
    assert caught.value.argument == "assignee"


def test_a_lone_surrogate_is_not_text_any_database_can_store(driver):
    with pytest.raises(InvalidArgument, match="not valid Unicode text") as caught:
        require_text("bad \ud800", "note")
    assert caught.value.argument == "note"
    row = StockRequest.objects.create()
    with pytest.raises(InvalidArgument, match="note is not valid Unicode text"):
        row.offer(driver, note="bad \ud800")
    row.refresh_from_db()
    assert (row.status, row.note, row.assignment_attempt) == ("PENDING", "", 0)


def test_a_callable_timeout_gets_real_instances_and_refuses_an_unknown_key(user):
    seen = []

    def timeout(instance, assignee):
        seen.append((instance, assignee))
        return 45

    opts = dataclasses.replace(options_for(Ticket), timeout=timeout)
    ticket = Ticket.objects.create()
    db = using(Ticket)

    # A key, not an instance: the callable still gets the assignee's row.
    assert offer_seconds(Ticket, opts, ticket.pk, user.pk, user.pk, None, db) == 45.0
    assert seen == [(ticket, user)]

    missing = user.pk + 1000
    with pytest.raises(InvalidArgument, match="does not exist") as caught:
        offer_seconds(Ticket, opts, ticket.pk, missing, missing, None, db)
    assert caught.value.argument == "assignee"
    assert len(seen) == 1  # never called for an assignee that is not there
