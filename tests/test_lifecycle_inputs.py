"""Bad input to the lifecycle, typed: what a form, a JSON body or a URL can send.

Each refusal is a library exception with a 4xx ``http_status`` and a
``code``, raised before anything is written (issue 13, symptoms 3-6 and
"offer(12.7) uses pk 12").
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import RequestFactory

from django_assignment_timeout import lifecycle
from django_assignment_timeout.exceptions import (
    AlreadyOffered,
    AlreadyTaken,
    AssignmentNotFound,
    ConfigurationError,
    InvalidArgument,
    NoActiveOffer,
)
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.options import options_for
from tests.docs.blocks import block
from tests.testapp.models import Driver, StockRequest, Ticket

pytestmark = pytest.mark.django_db


def with_timeout(monkeypatch, model, timeout):
    """Give ``model`` another AssignmentMeta.timeout for one test."""
    monkeypatch.setattr(
        model,
        "_assignment_options",
        dataclasses.replace(options_for(model), timeout=timeout),
    )


def database_state():
    """Every assignment row and every event, to compare before and after a refusal."""
    return (
        list(StockRequest._base_manager.order_by("pk").values()),
        list(Ticket._base_manager.order_by("pk").values()),
        list(AssignmentEvent.objects.order_by("pk").values()),
    )


# -- symptom 3: InvalidArgument maps to a response; the recipe never 500s -------


def test_invalid_argument_has_an_http_status_a_code_and_a_message():
    err = InvalidArgument("attempt must be an integer.", argument="attempt")
    assert (err.http_status, err.code) == (400, "invalid_argument")
    assert (err.message, err.argument) == ("attempt must be an integer.", "attempt")
    assert isinstance(err, ValueError)  # still catchable as before


def recipe_view():
    """The view recipe of docs/reference/exceptions.rst, run as written."""
    source = block("exceptions-view")  # by name, as tests/docs/ fetch blocks
    # The recipe's own app is "repairs"; here the UUID-keyed Ticket stands in.
    source = source.replace("from repairs.models import Repair", "")
    namespace = {"Repair": Ticket}
    exec(compile(source, "exceptions.rst", "exec"), namespace)
    return namespace["accept_repair"]


def post(view, user, pk, data):
    request = RequestFactory().post("/", data)
    request.user = user
    return view(request, pk=pk)


def test_the_exceptions_recipe_answers_4xx_for_form_and_url_input(ticket, user):
    view = recipe_view()
    ticket.offer(user)
    # A malformed UUID in the URL, and attempts as a form sends them.
    assert post(view, user, "not-a-uuid", {"attempt": "1"}).status_code == 400
    assert post(view, user, str(ticket.pk), {"attempt": "x"}).status_code == 400
    assert post(view, user, str(ticket.pk), {"attempt": "2"}).status_code == 409
    response = post(view, user, str(ticket.pk), {"attempt": "1"})
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.state == 2
    assert post(view, user, str(ticket.pk), {}).status_code == 409


def test_a_numeric_string_attempt_is_parsed_like_a_key(stock_request, driver):
    stock_request.offer(driver)
    for attempt in ("1.0", "", " 1", "1_0", "x", 1.0, Decimal(1), True, [1]):
        with pytest.raises(InvalidArgument) as err:
            stock_request.accept(driver, attempt=attempt)
        assert err.value.argument == "attempt"
    with pytest.raises(NoActiveOffer):
        StockRequest.objects.accept(str(stock_request.pk), str(driver.pk), attempt="2")
    StockRequest.objects.accept(str(stock_request.pk), str(driver.pk), attempt="1")
    stock_request.refresh_from_db()
    assert stock_request.status == "ASSIGNED"


def test_a_malformed_uuid_key_is_invalid_argument(user):
    for pk in ("not-a-uuid", "12", 12.5, [], {}, b"x", "\x00"):
        for call in (
            lambda pk: Ticket.objects.offer(pk, user),
            lambda pk: Ticket.objects.accept(pk, user),
            lambda pk: Ticket.objects.reject(pk, user),
            lambda pk: Ticket.objects.expire(pk),
        ):
            with pytest.raises(InvalidArgument) as err:
                call(pk)
            assert (err.value.http_status, err.value.argument) == (400, "pk")


# -- "offer(12.7) uses pk 12": integers are never truncated ------------------


def test_a_non_integral_number_is_not_an_integer_key(stock_request, driver):
    before = database_state()
    for pk in (
        stock_request.pk + 0.7,
        float(stock_request.pk),
        Decimal(stock_request.pk) + Decimal("0.7"),
        Decimal(stock_request.pk),
        f"{stock_request.pk}.0",
        True,
        None,
        [stock_request.pk],
        {"pk": stock_request.pk},
        "1" * 30,
        2**70,
    ):
        with pytest.raises(InvalidArgument):
            StockRequest.objects.offer(pk, driver)
    for assignee in (driver.pk + 0.7, float(driver.pk), Decimal(driver.pk), 2**70):
        with pytest.raises(InvalidArgument) as err:
            stock_request.offer(assignee)
        assert err.value.argument == "assignee"
    assert database_state() == before
    StockRequest.objects.offer(str(stock_request.pk), str(driver.pk))
    assert StockRequest.objects.get(pk=stock_request.pk).target_driver == driver


# -- symptom 4: the timeout callable sees a real, pending instance --------------


def priority_timeout(seen):
    def timeout(page, clinician):
        seen.append((page, clinician))
        return 60 if page.priority else 300  # realistic: reads the instance

    return timeout


def test_the_timeout_callable_is_not_called_for_a_missing_row(monkeypatch, user):
    seen = []
    with_timeout(monkeypatch, Ticket, priority_timeout(seen))
    with pytest.raises(AssignmentNotFound):
        Ticket.objects.offer("00000000-0000-0000-0000-000000000000", user)
    assert seen == []


def test_the_timeout_callable_runs_after_the_status_check(monkeypatch, ticket, user):
    seen = []
    ticket.offer(user)
    with_timeout(monkeypatch, Ticket, priority_timeout(seen))
    with pytest.raises(AlreadyOffered):
        ticket.offer(user)
    ticket.accept(user)
    with pytest.raises(AlreadyTaken):
        Ticket.objects.offer(ticket.pk, user)
    assert seen == []


def test_the_timeout_callable_gets_the_instance_and_the_assignee(
    monkeypatch, ticket, user
):
    seen = []
    with_timeout(monkeypatch, Ticket, priority_timeout(seen))
    Ticket.objects.offer(str(ticket.pk), str(user.pk))  # keys, as a view has them
    assert seen == [(ticket, user)]
    assert isinstance(seen[0][0], Ticket) and seen[0][0].state == 0


def test_an_error_in_the_timeout_callable_is_a_configuration_error(
    monkeypatch, ticket, user
):
    def broken(page, clinician):
        return page.no_such_attribute

    with_timeout(monkeypatch, Ticket, broken)
    before = database_state()
    with pytest.raises(ConfigurationError, match="timeout") as err:
        ticket.offer(user)
    assert isinstance(err.value.__cause__, AttributeError)
    assert database_state() == before

    def refuses(page, clinician):
        raise InvalidArgument("No paging at night.")

    with_timeout(monkeypatch, Ticket, refuses)
    with pytest.raises(InvalidArgument, match="night"):  # a typed error passes as is
        ticket.offer(user)
    assert database_state() == before


# -- symptom 5: an assignee that does not exist ---------------------------------


def test_offering_to_a_missing_assignee_is_invalid_argument(stock_request, driver):
    missing = Driver.objects.create(name="gone")
    missing_pk = missing.pk
    missing.delete()
    before = database_state()
    for assignee in (missing_pk, str(missing_pk), missing):
        with pytest.raises(InvalidArgument) as err:
            stock_request.offer(assignee)
        assert (err.value.http_status, err.value.argument) == (400, "assignee")
    # Inside an outer transaction too (PostgreSQL defers the foreign key check).
    with transaction.atomic():
        with pytest.raises(InvalidArgument):
            StockRequest.objects.offer(stock_request.pk, missing_pk)
        assert database_state() == before
    assert database_state() == before


@pytest.mark.django_db(transaction=True)
def test_offering_to_a_missing_assignee_in_autocommit(driver):
    row = StockRequest.objects.create()
    before = database_state()
    with pytest.raises(InvalidArgument, match="does not exist"):
        StockRequest.objects.offer(row.pk, driver.pk + 1000)
    assert database_state() == before
    StockRequest.objects.offer(row.pk, driver.pk)  # and the right one still works


# -- symptom 6: a failed instance offer refreshes the instance -----------------


def test_a_failed_instance_offer_refreshes_the_instance(
    stock_request, driver, other_driver
):
    stale = StockRequest.objects.get(pk=stock_request.pk)
    StockRequest.objects.offer(stock_request.pk, driver)
    with pytest.raises(AlreadyOffered):
        stale.offer(other_driver)
    assert (stale.status, stale.target_driver, stale.assignment_attempt) == (
        "ASSIGNING",
        driver,
        1,
    )


def test_a_deleted_instance_refuses_with_not_found(stock_request, driver):
    gone = StockRequest.objects.get(pk=stock_request.pk)
    StockRequest.objects.filter(pk=stock_request.pk).delete()
    for call in (
        lambda: gone.offer(driver),
        lambda: gone.accept(driver),
        lambda: gone.reject(driver),
        lambda: gone.expire(),
    ):
        with pytest.raises(AssignmentNotFound):
            call()
    with pytest.raises(InvalidArgument):
        StockRequest().offer(driver)  # never saved: no key at all


# -- values and the other arguments -------------------------------------------


def test_offer_values_are_cleaned_like_the_model_would(
    stock_request, ticket, driver, user
):
    before = database_state()
    bad = [
        (stock_request, driver, {"note": None}),  # NOT NULL
        (stock_request, driver, {"note": "x" * 51}),  # max_length
        (stock_request, driver, {"note": ["a"]}),  # not text
        (stock_request, driver, {"note": "\x00"}),  # PostgreSQL can not store it
        (ticket, user, {"priority": -1}),
        (ticket, user, {"priority": 2.5}),
        (ticket, user, {"priority": 2**70}),  # no column holds it
        (ticket, user, {"priority": "high"}),
    ]
    for row, assignee, values in bad:
        with pytest.raises(InvalidArgument) as err:
            row.offer(assignee, **values)
        assert err.value.argument == next(iter(values))
    assert database_state() == before
    ticket.offer(user, priority="3", queue="night")  # a form's text, parsed
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.queue) == (3, "night")


def test_other_arguments_are_typed(stock_request, driver):
    stock_request.offer(driver)
    pending = StockRequest.objects.create()
    before = database_state()
    for force in ("false", 0, None):
        with pytest.raises(InvalidArgument) as err:
            stock_request.expire(force=force)
        assert err.value.argument == "force"
    for reason in (None, 5, "\x00"):
        with pytest.raises(InvalidArgument) as err:
            stock_request.reject(driver, reason=reason)
        assert err.value.argument == "reason"
    for timeout in (10**12, "30", float("nan")):
        with pytest.raises(InvalidArgument) as err:
            lifecycle.offer(StockRequest, pending.pk, driver, timeout=timeout)
        assert err.value.argument == "timeout"
    assert database_state() == before


def test_a_successful_offer_costs_no_extra_query(
    django_assert_num_queries, stock_request, driver
):
    ContentType.objects.get_for_model(StockRequest)  # cached, as in a running process
    # The UPDATE (whose WHERE also checks that the assignee exists) and the
    # event: no savepoint, no read-back (tests/test_query_counts.py has each
    # transition on each database).
    with django_assert_num_queries(2):
        StockRequest.objects.offer(stock_request.pk, driver)
