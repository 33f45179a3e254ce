"""The statements of each transition: its UPDATE and its event, nothing else.

Counted with CaptureQueriesContext inside the test's transaction, so a
savepoint the transition opened would be counted too. The shapes differ by
what each database can return from a write (see
``django_assignment_timeout.lifecycle.statements``).
"""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_assignment_timeout import lifecycle
from django_assignment_timeout.exceptions import (
    InvalidArgument,
    NoActiveOffer,
    NotOfferedToYou,
    OfferNotDue,
)
from django_assignment_timeout.lifecycle.statements import statements_for
from django_assignment_timeout.models import AssignmentEvent
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db

#: The statements of each transition, by their first word, on each database.
SHAPES = {
    "postgresql": {
        "offer": ["UPDATE", "INSERT"],
        "accept": ["UPDATE", "INSERT"],
        "reject": ["UPDATE", "INSERT"],
        "expire": ["UPDATE", "INSERT"],
    },
    "sqlite": {
        "offer": ["UPDATE", "INSERT"],
        "accept": ["UPDATE", "INSERT"],
        "reject": ["UPDATE", "INSERT"],
        # RETURNING gives only the new values: the cleared ones are read first.
        "expire": ["SELECT", "UPDATE", "INSERT"],
    },
    "mysql": {
        # The INSERT reads the new attempt and deadline from the changed row.
        "offer": ["UPDATE", "INSERT"],
        # No UPDATE ... RETURNING: the INSERT decides, locking the row.
        "accept": ["INSERT", "UPDATE"],
        "reject": ["INSERT", "UPDATE"],
        "expire": ["SELECT", "UPDATE", "INSERT"],
    },
}


def statements(call, *args, **kwargs):
    """The first word of each statement ``call`` runs, and what it returned."""
    with CaptureQueriesContext(connection) as captured:
        result = call(*args, **kwargs)
    return [query["sql"].split()[0].upper() for query in captured], result


@pytest.fixture(autouse=True)
def warm():
    # As in a running process: the content type is cached, the SQL built.
    ContentType.objects.get_for_model(StockRequest)
    ContentType.objects.get_for_model(Ticket)


def shape(name):
    return SHAPES[connection.vendor][name]


def test_each_transition_is_its_update_and_its_event(driver):
    first, second = StockRequest.objects.create(), StockRequest.objects.create()
    lifecycle.offer(StockRequest, first.pk, driver)  # builds the SQL once
    ran, offered = statements(lifecycle.offer, StockRequest, second.pk, driver)
    assert ran == shape("offer")
    assert (offered.kind, offered.attempt, offered.assignee_pk) == (
        "offered",
        1,
        str(driver.pk),
    )
    ran, accepted = statements(lifecycle.accept, StockRequest, first.pk, driver)
    assert ran == shape("accept")
    ran, rejected = statements(
        lifecycle.reject, StockRequest, second.pk, driver, reason="busy", attempt=1
    )
    assert ran == shape("reject")
    lifecycle.offer(StockRequest, second.pk, driver)
    ran, expired = statements(lifecycle.expire, StockRequest, second.pk, force=True)
    assert ran == shape("expire")
    # What the statements returned is what the database holds.
    fields = [f.attname for f in AssignmentEvent._meta.concrete_fields]
    for event in (offered, accepted, rejected, expired):
        stored = AssignmentEvent.objects.get(pk=event.pk)
        assert [getattr(event, f) for f in fields] == [
            getattr(stored, f) for f in fields
        ]
        assert not event._state.adding
    assert (rejected.reason, expired.attempt) == ("busy", 2)
    assert accepted.created_at < offered.deadline
    assert expired.deadline is not None and expired.assignee_pk == str(driver.pk)


def test_an_expiry_pinned_to_its_attempt_and_due(driver):
    row = StockRequest.objects.create()
    lifecycle.offer(StockRequest, row.pk, driver)
    StockRequest.objects.filter(pk=row.pk).update(
        assignment_started_at=None, assignment_expires_at="2020-01-01T00:00:00Z"
    )
    ran, event = statements(lifecycle.expire, StockRequest, row.pk, attempt=1)
    assert ran == shape("expire")
    assert (event.kind, event.attempt) == ("expired", 1)


def test_a_uuid_key_and_a_user_assignee(django_user_model):
    user = django_user_model.objects.create(username="ravi")
    ticket = Ticket.objects.create(queue="night")
    lifecycle.offer(Ticket, ticket.pk, user, queue="day")
    ran, event = statements(lifecycle.expire, Ticket, str(ticket.pk), force=True)
    assert ran == shape("expire")
    assert (event.object_pk, event.assignee_pk) == (str(ticket.pk), str(user.pk))
    ticket.refresh_from_db()
    assert (ticket.state, ticket.queue, ticket.assignee_id) == (0, "", None)


def test_a_refusal_reads_only_after_its_statement_changed_nothing(driver, other_driver):
    row = StockRequest.objects.create()
    lifecycle.offer(StockRequest, row.pk, driver)
    with (
        CaptureQueriesContext(connection) as captured,
        pytest.raises(NotOfferedToYou),
    ):
        lifecycle.accept(StockRequest, row.pk, other_driver)
    # The refused write first; then the diagnosing read.
    first = captured[0]["sql"].split()[0].upper()
    assert first == shape("accept")[0]
    assert captured[1]["sql"].split()[0].upper() == "SELECT"
    with pytest.raises(OfferNotDue):
        lifecycle.expire(StockRequest, row.pk)


def test_the_sql_is_built_once_per_model_and_database():
    assert statements_for(StockRequest, "default") is statements_for(
        StockRequest, "default"
    )
    assert statements_for(Ticket, "default") is not statements_for(
        StockRequest, "default"
    )


@pytest.fixture
def no_returning(monkeypatch):
    """The database as MySQL 8 or SQLite before 3.35: no RETURNING at all."""
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL always has RETURNING")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    for model in (StockRequest, Ticket):
        model.__dict__.get("_assignment_statements", {}).clear()
    yield
    for model in (StockRequest, Ticket):
        model.__dict__.get("_assignment_statements", {}).clear()


@pytest.mark.usefixtures("no_returning")
def test_without_returning_each_event_is_read_back_by_its_id(driver):
    row = StockRequest.objects.create()
    ran, offered = statements(lifecycle.offer, StockRequest, row.pk, driver)
    assert ran == ["UPDATE", "INSERT", "SELECT"]
    ran, accepted = statements(lifecycle.accept, StockRequest, row.pk, driver)
    assert ran == ["INSERT", "SELECT", "UPDATE"]
    row.refresh_from_db()
    assert row.status == "ASSIGNED"
    assert [offered, accepted] == list(AssignmentEvent.objects.order_by("id"))
    assert (offered.attempt, accepted.attempt) == (1, 1)
    assert accepted.created_at < offered.deadline


def test_an_assignee_key_no_row_can_have_is_a_refusal(driver):
    # 0 is never an AUTO_INCREMENT key on MySQL: Django refuses to save it,
    # while the offer only compares it, so it is the missing-assignee refusal.
    row = StockRequest.objects.create()
    with pytest.raises(InvalidArgument) as err:
        lifecycle.offer(StockRequest, row.pk, 0)
    assert err.value.argument == "assignee"
    with pytest.raises(NoActiveOffer):
        lifecycle.accept(StockRequest, row.pk, 0)
