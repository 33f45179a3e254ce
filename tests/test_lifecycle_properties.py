"""Any argument a form, a JSON body or a URL can produce, against the lifecycle.

Hypothesis draws the call (offer / accept / reject / expire, through the
manager, the instance or the lifecycle function, on the integer-keyed
StockRequest and the UUID-keyed Ticket) and every argument from values a
view can be handed: text (digits, UUIDs, NUL, lone surrogates), ints of any
size, floats, Decimals, bools, None, lists, dicts, model instances of the
right and the wrong model, saved and not. Every call either succeeds or
raises one of the library's exceptions with a 4xx ``http_status`` and a
``code``, and a refused call leaves the assignment rows and the event table
exactly as they were.

Each example runs in a transaction that is rolled back, so every example
starts from the same rows (one per lifecycle state, for each model).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from django_assignment_timeout import lifecycle
from django_assignment_timeout.exceptions import AssignmentError, OfferExpired
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, StockRequest, Ticket

pytestmark = pytest.mark.django_db

EXAMPLES = 300


def database_state():
    return (
        list(StockRequest._base_manager.order_by("pk").values()),
        list(Ticket._base_manager.order_by("pk").values()),
        list(AssignmentEvent.objects.order_by("pk").values()),
    )


def undo_lazy_expiry(before, after, err):
    """``after`` without the one write a refusal may make: ending a due offer.

    An answer to an offer past its deadline that no sweep has expired yet
    expires it on the spot (lazy expiry, DESIGN.md), then refuses with
    OfferExpired. Put that row and its ``expired`` event back as they were.
    """
    stock, tickets, events = after
    new_events = events[len(before[2]) :]
    assert events[: len(before[2])] == before[2]
    assert [(e["object_pk"], e["kind"]) for e in new_events] in (
        [],
        [(str(err.pk), "expired")],
    ), new_events
    if not new_events:
        return after
    old_rows = {row["id"]: row for row in (*before[0], *before[1])}
    row = old_rows[err.pk]
    assert row["assignment_expires_at"] is not None  # it was an open offer

    def restore(rows):
        return [old_rows[r["id"]] if r["id"] == err.pk else r for r in rows]

    return restore(stock), restore(tickets), before[2]


# -- what a view can be handed --------------------------------------------------

text = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec=None), max_size=6),  # surrogates included
    st.from_regex(r"\A[+-]?[0-9]{1,25}\Z"),
    st.from_regex(r"\A ?[0-9]{1,3}(\.[0-9]?)?[ _]?\Z"),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u)[:-1]),
    st.uuids().map(lambda u: u.hex.upper()),
    st.sampled_from(["", " ", "\x00", "1\x00", "\ud800", "true", "false", "null"]),
)
numbers = st.one_of(
    st.integers(-5, 5),
    st.integers(),
    st.integers(-(2**80), 2**80),
    st.floats(),
    st.floats(0.001, 1e10),
    st.decimals(allow_nan=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text, st.uuids())
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)
timeouts = st.one_of(
    st.none(),
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=5000)),
    json_like,
)
value_names = st.sampled_from(
    [
        *("note", "assignment_mode", "priority", "queue", "status", "target_driver"),
        *("assignment_attempt", "assignment_expires_at", "nope", "id"),
    ]
)


@pytest.fixture
def world(driver, other_driver, user):
    """One row per lifecycle state, for each model, and who can be offered them."""
    other_user = get_user_model().objects.create(username="other")
    rows = {StockRequest: [], Ticket: []}
    for model, assignee in ((StockRequest, driver), (Ticket, user)):
        pending = model.objects.create()
        offered = model.objects.create()
        offered.offer(assignee)
        due = model.objects.create()
        due.offer(assignee)
        make_due(model, due.pk)
        accepted = model.objects.create()
        accepted.offer(assignee)
        accepted.accept(assignee)
        rows[model] = [pending, offered, due, accepted]
    gone = Driver.objects.create(name="gone")
    gone_pk = gone.pk
    gone.delete()
    return {
        "rows": rows,
        "assignees": {
            StockRequest: [driver, other_driver, driver.pk, str(other_driver.pk)],
            Ticket: [user, other_user, user.pk, str(other_user.pk)],
            # Wrong models, unsaved, deleted, and other models' keys.
            "any": [driver, user, Driver(name="unsaved"), gone_pk, 10**9, "abc"],
        },
    }


def mostly(good, bad=None):
    """``good`` three times in four, else anything a view can be handed."""
    bad = json_like if bad is None else bad
    return st.integers(0, 3).flatmap(lambda n: bad if n == 0 else good)


def pks_for(model, world):
    rows = world["rows"][model]
    missing = uuid.uuid4() if model is Ticket else 10**9
    return mostly(
        st.sampled_from([r.pk for r in rows] + [str(r.pk) for r in rows] + [missing])
    )


good_values = st.dictionaries(
    st.sampled_from(["note", "assignment_mode", "priority", "queue"]),
    st.sampled_from(["", "x", "AUTO", 3, "3", None]),
    max_size=2,
)


def arguments(model, world):
    assignees = world["assignees"][model]
    return {
        "assignee": mostly(
            st.sampled_from(assignees),
            st.sampled_from(world["assignees"]["any"]) | json_like,
        ),
        "attempt": mostly(st.sampled_from([None, 1, "1", 2, "2"])),
        "timeout": mostly(
            st.sampled_from([None, 1.5, 60, timedelta(minutes=5)]), timeouts
        ),
        "values": mostly(
            st.just({}) | good_values,
            st.dictionaries(value_names, json_like, max_size=2),
        ),
        "reason": mostly(st.sampled_from(["", "busy"])),
        "force": mostly(st.booleans()),
    }


def call(data, world):
    """Draw one lifecycle call and its arguments; return it as a thunk."""
    model = data.draw(st.sampled_from([StockRequest, Ticket]), label="model")
    api = data.draw(st.sampled_from(["manager", "instance", "function"]), label="api")
    kind = data.draw(st.sampled_from(["offer", "accept", "reject", "expire"]))
    args = {
        name: data.draw(strategy, label=name)
        for name, strategy in arguments(model, world).items()
        if name in _ARGUMENTS[kind]
    }
    values = args.pop("values", {})
    assignee = args.pop("assignee", None)
    positional = () if kind == "expire" else (assignee,)
    if api == "instance":
        target = data.draw(
            st.sampled_from([*world["rows"][model], model()]), label="instance"
        )
        return lambda: getattr(target, kind)(*positional, **args, **values)
    pk = data.draw(pks_for(model, world), label="pk")
    if api == "manager":
        return lambda: getattr(model.objects, kind)(pk, *positional, **args, **values)
    function = getattr(lifecycle, kind)
    return lambda: function(model, pk, *positional, **args, **values)


_ARGUMENTS = {
    "offer": {"assignee", "timeout", "values"},
    "accept": {"assignee", "attempt"},
    "reject": {"assignee", "attempt", "reason"},
    "expire": {"attempt", "force"},
}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_only_typed_4xx_refusals_and_nothing_written(world, data):
    thunk = call(data, world)
    with transaction.atomic():
        before = database_state()
        try:
            thunk()
            event("done")
        except AssignmentError as err:
            event(type(err).__name__ + ":" + str(getattr(err, "argument", "")))
            status = getattr(err, "http_status", None)
            assert status is not None and 400 <= status < 500, repr(err)
            assert isinstance(err.code, str) and err.code, repr(err)  # type: ignore[attr-defined]
            after = database_state()
            if isinstance(err, OfferExpired):
                after = undo_lazy_expiry(before, after, err)
            assert after == before, repr(err)
        transaction.set_rollback(True)
