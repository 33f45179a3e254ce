"""Retention: what ``prune_events`` deletes, what it never deletes, and its bounds.

Events are made old by moving ``created_at`` back on the database clock
(freezegun does not move it). The property test at the end draws mixes of
delivered, pending and dead events, open and closed offers and deleted rows,
and compares what is left with the rules written out once, in ``expected``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_assignment_timeout import retention
from django_assignment_timeout.checks.retention import check_retention_settings
from django_assignment_timeout.conf import event_retention
from django_assignment_timeout.delivery.relay import claim_batch
from django_assignment_timeout.exceptions import ConfigurationError, InvalidArgument
from django_assignment_timeout.models import (
    AssignmentEvent,
    RecipientDelivery,
    RecipientState,
)
from django_assignment_timeout.retention import prune_events, prune_if_configured
from django_assignment_timeout.testing import deliver
from django_assignment_timeout.validation import duration_seconds
from tests.support.retention import DAY, events, make_old
from tests.testapp.models import Driver, StockRequest, Ticket

pytestmark = pytest.mark.django_db

NINETY_DAYS = timedelta(days=90)


def remaining(*ids):
    """Which of ``ids`` are still in the table."""
    return set(AssignmentEvent.objects.filter(pk__in=ids).values_list("pk", flat=True))


def kinds_left(row):
    return sorted(
        (e.attempt, e.kind) for e in AssignmentEvent.objects.for_assignment(row)
    )


# -- what goes ------------------------------------------------------------------


def test_old_delivered_events_of_ended_offers_go_and_young_ones_stay(driver):
    accepted, rejected = StockRequest.objects.create(), StockRequest.objects.create()
    accepted.offer(driver)
    accepted.accept(driver)
    rejected.offer(driver)
    rejected.reject(driver)
    deliver()
    assert AssignmentEvent.objects.undelivered().count() == 0
    make_old(AssignmentEvent.objects.all(), days=91)
    young = events(StockRequest, [accepted.pk], attempt=9, days=89)

    result = prune_events(NINETY_DAYS)

    assert result.deleted == 4
    assert list(AssignmentEvent.objects.values_list("pk", flat=True)) == young
    assert result.cutoff is not None and result.batches == 1
    assert not result.has_more and not result.dry_run


def test_events_of_a_deleted_assignment_go(driver):
    row = StockRequest.objects.create()
    row.offer(driver)  # open when deleted: nothing holds it open any more
    deliver()
    make_old(AssignmentEvent.objects.all())
    StockRequest.objects.filter(pk=row.pk).delete()

    assert prune_events(NINETY_DAYS).deleted == 1
    assert not AssignmentEvent.objects.exists()


def test_events_of_a_model_no_longer_installed_or_adopting_go():
    gone = ContentType.objects.create(app_label="gone", model="vanished")
    ids = events(gone, [1, 2]) + events(Driver, [1])

    assert prune_events(NINETY_DAYS).deleted == 3
    assert remaining(*ids) == set()


def test_a_content_type_removed_meanwhile_holds_nothing_open(monkeypatch):
    # remove_stale_contenttypes running at the same moment: the cached lookup
    # fails, and the prune goes on rather than crash.
    ids = events(StockRequest, [1])

    def gone(self, id):
        raise ContentType.DoesNotExist

    monkeypatch.setattr(type(ContentType.objects), "get_for_id", gone)
    assert prune_events(NINETY_DAYS, using="default").deleted == 1
    assert remaining(*ids) == set()


def test_a_key_that_can_not_be_parsed_holds_nothing_open():
    ids = events(StockRequest, ["not-a-number"]) + events(Ticket, ["not-a-uuid"])
    assert prune_events(NINETY_DAYS).deleted == 2
    assert remaining(*ids) == set()


# -- what never goes ------------------------------------------------------------


@pytest.mark.parametrize("model", [StockRequest, Ticket], ids=["int key", "uuid key"])
def test_every_event_of_the_attempt_an_assignment_holds_open_stays(model, driver):
    user = get_user_model().objects.create(username="asha")
    assignee = driver if model is StockRequest else user
    row = model.objects.create()
    row.offer(assignee)
    row.reject(assignee)
    row.offer(assignee)  # attempt 2, open
    deliver()
    make_old(AssignmentEvent.objects.all())
    # Whatever else attempt 2 has (a stray event of any kind) stays too.
    events(model, [row.pk], attempt=2, kind="expired")

    result = prune_events(NINETY_DAYS)

    assert result.deleted == 2 and result.kept_open == 2
    assert kinds_left(row) == [(2, "expired"), (2, "offered")]
    row.accept(assignee)  # the offer ends: now its events may go
    deliver()
    make_old(AssignmentEvent.objects.all())
    assert prune_events(NINETY_DAYS).deleted == 3
    assert kinds_left(row) == []


def test_undelivered_events_stay_claimed_by_a_relay_or_not():
    ids = events(Driver, range(4), state="pending")
    claimed = claim_batch(2)  # leased to a relay that is sending them now
    assert len(claimed) == 2

    assert prune_events(timedelta(seconds=1)).deleted == 0
    assert remaining(*ids) == set(ids)


def test_dead_letters_stay_unless_asked():
    dead = events(Driver, range(3), state="dead")
    assert prune_events(NINETY_DAYS).deleted == 0
    assert remaining(*dead) == set(dead)
    assert prune_events(NINETY_DAYS, include_dead=True).deleted == 3
    assert remaining(*dead) == set()


def test_recipient_rows_go_with_their_event_never_alone():
    delivered = events(Driver, [1], state="delivered")
    dead = events(Driver, [2], state="dead")
    pending = events(Driver, [3], state="pending")
    RecipientDelivery.objects.bulk_create(
        RecipientDelivery(
            event_id=event_id, recipient_key=f"r{n}", backend="push", state=state
        )
        for event_id, state in (
            (delivered[0], RecipientState.DELIVERED),
            (dead[0], RecipientState.DEAD),
            (pending[0], RecipientState.RETRY),
        )
        for n in range(2)
    )

    # Counted in events, not rows; the rows still owed or dead are kept.
    assert prune_events(timedelta(seconds=1)).deleted == 1
    assert remaining(*delivered, *dead, *pending) == {*dead, *pending}
    left = set(RecipientDelivery.objects.values_list("event_id", flat=True))
    assert left == {*dead, *pending}
    assert prune_events(timedelta(seconds=1), include_dead=True).deleted == 1
    assert set(RecipientDelivery.objects.values_list("state", flat=True)) == {
        RecipientState.RETRY
    }


# -- batches --------------------------------------------------------------------


def test_batches_are_bounded_and_reported():
    ids = events(Driver, range(7))
    seen = []

    result = prune_events(NINETY_DAYS, batch_size=3, on_batch=seen.append)

    assert [(b.number, b.deleted, b.kept_open) for b in seen] == [
        (1, 3, 0),
        (2, 3, 0),
        (3, 1, 0),
    ]
    assert result.batches == 3 and result.deleted == 7 and remaining(*ids) == set()
    assert result.longest_batch_seconds == max(b.seconds for b in seen) > 0


def test_max_batches_stops_and_says_more_is_left():
    ids = events(Driver, range(7))
    result = prune_events(NINETY_DAYS, batch_size=3, max_batches=2)
    assert (result.deleted, result.batches, result.has_more) == (6, 2, True)
    assert len(remaining(*ids)) == 1
    result = prune_events(NINETY_DAYS, batch_size=3, max_batches=1)
    assert (result.deleted, result.has_more) == (1, False)


def test_a_batch_full_of_open_offers_does_not_stop_the_run(driver):
    rows = [StockRequest.objects.create() for _ in range(3)]
    for row in rows:
        row.offer(driver)
    deliver()
    make_old(AssignmentEvent.objects.all())
    later = events(Driver, range(3))  # higher ids than the open offers' events

    result = prune_events(NINETY_DAYS, batch_size=3)

    assert (result.deleted, result.kept_open, result.batches) == (3, 3, 2)
    assert remaining(*later) == set()
    assert AssignmentEvent.objects.count() == 3


def test_a_dry_run_counts_and_changes_nothing(driver):
    row = StockRequest.objects.create()
    row.offer(driver)
    deliver()
    make_old(AssignmentEvent.objects.all())
    events(Driver, range(5))
    before = list(AssignmentEvent.objects.order_by("pk").values())

    result = prune_events(NINETY_DAYS, batch_size=2, dry_run=True)

    assert (result.deleted, result.kept_open, result.dry_run) == (5, 1, True)
    assert list(AssignmentEvent.objects.order_by("pk").values()) == before


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"older_than": 0}, "older_than"),
        ({"older_than": -DAY}, "older_than"),
        ({"older_than": "soon"}, "older_than"),
        ({"older_than": "90x"}, "older_than"),
        ({"older_than": None}, "older_than"),
        ({"older_than": timedelta(0)}, "older_than"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "10"}, "batch_size"),
        ({"max_batches": 0}, "max_batches"),
        ({"dry_run": "no"}, "dry_run"),
        ({"include_dead": 1}, "include_dead"),
        ({"using": "elsewhere"}, "using"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_read(arguments, argument):
    ids = events(Driver, range(2))
    call = {"older_than": NINETY_DAYS, **arguments}
    with pytest.raises(InvalidArgument) as caught:
        prune_events(call.pop("older_than"), **call)
    assert caught.value.argument == argument
    assert remaining(*ids) == set(ids)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * DAY),
        ("12h", 43200),
        ("30m", 1800),
        ("45s", 45),
        ("3600", 3600),
        ("1.5h", 5400),
        (" 7d ", 7 * DAY),
        (120, 120),
        (timedelta(hours=1), 3600),
    ],
)
def test_durations_read_with_units(text, seconds):
    assert duration_seconds(text, "age") == seconds


# -- the setting, its check and the periodic entry point -------------------------


def test_retention_off_by_default_prunes_nothing():
    ids = events(Driver, range(3))
    assert event_retention() is None
    assert prune_if_configured() is None
    assert remaining(*ids) == set(ids)


@override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION="90d")
def test_configured_retention_prunes_a_bounded_amount_per_call(monkeypatch):
    monkeypatch.setattr(retention, "AUTOMATIC_BATCH_SIZE", 2)
    ids = events(Driver, range(5)) + events(Driver, range(5, 7), days=10)
    dead = events(Driver, range(7, 9), state="dead")

    result = prune_if_configured()

    assert result is not None
    assert (result.deleted, result.batches, result.has_more) == (4, 2, True)
    assert prune_if_configured().deleted == 1
    assert len(remaining(*ids)) == 2 and remaining(*dead) == set(dead)


@pytest.mark.parametrize(
    "value", [None, 3600, 86400.5, "3600", "90d", timedelta(days=30)]
)
def test_good_retention_values_pass_the_check(value):
    with override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION=value):
        assert check_retention_settings() == []


@pytest.mark.parametrize(
    "value", [0, -1, "soon", "-1d", "90 days", True, [90], timedelta(0), 1e12]
)
def test_bad_retention_values_fail_check_e055(value):
    with override_settings(ASSIGNMENT_TIMEOUT_EVENT_RETENTION=value):
        messages = check_retention_settings()
        assert [(type(m), m.id) for m in messages] == [
            (Error, "assignment_timeout.E055")
        ]
        assert "ASSIGNMENT_TIMEOUT_EVENT_RETENTION" in messages[0].msg
        assert messages[0].hint
        with pytest.raises(ConfigurationError):
            prune_if_configured()
        with pytest.raises(SystemCheckError, match="E055"):
            call_command("check")


# -- the property ---------------------------------------------------------------

STATES = ("delivered", "pending", "dead")

event_spec = st.tuples(
    st.integers(min_value=1, max_value=3),  # attempt
    st.sampled_from(["offered", "accepted", "rejected", "expired"]),
    st.sampled_from(STATES),
    st.sampled_from([10, 89, 91, 400]),  # age in days
)
assignment_spec = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["stock", "ticket"]),
        # None: no open offer; else the attempt the row holds open.
        "open_attempt": st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
        "deleted": st.booleans(),
        "events": st.lists(event_spec, max_size=5, unique_by=lambda e: e[:2]),
    }
)


def expected(world, include_dead):
    """The rules: (model, index, attempt, kind) of every event that must be left."""
    keep = set()
    for index, spec in enumerate(world):
        for attempt, kind, state, days in spec["events"]:
            open_now = not spec["deleted"] and spec["open_attempt"] == attempt
            prunable_state = state == "delivered" or (include_dead and state == "dead")
            if days < 90 or open_now or not prunable_state:
                keep.add((index, attempt, kind))
    return keep


def build(world, driver, user):
    """The rows and events ``world`` describes; each index's content type and key."""
    made = []
    for spec in world:
        model = StockRequest if spec["model"] == "stock" else Ticket
        attempt = spec["open_attempt"]
        values = {"assignment_attempt": attempt or 1}
        if attempt is not None:
            values.update(
                {
                    model.AssignmentMeta.status_field: model.AssignmentMeta.offered,
                    "assignment_started_at": timezone.now(),
                    "assignment_expires_at": timezone.now() + timedelta(days=999),
                    ("target_driver" if model is StockRequest else "assignee"): (
                        driver if model is StockRequest else user
                    ),
                }
            )
        row = model._base_manager.create(**values)
        key = row.pk
        if spec["deleted"]:
            model._base_manager.filter(pk=key).delete()
        for event_attempt, kind, state, days in spec["events"]:
            events(
                model, [key], attempt=event_attempt, kind=kind, state=state, days=days
            )
        made.append((ContentType.objects.get_for_model(model).pk, str(key)))
    return made


def run_world(world, driver, batch_size, include_dead, dry_run):
    """Build ``world``, prune it; what is left, what the rules keep, the result."""
    user, _ = get_user_model().objects.get_or_create(username="asha")
    made = build(world, driver, user)
    index_of = {key: index for index, key in enumerate(made)}
    before = AssignmentEvent.objects.count()
    result = prune_events(
        NINETY_DAYS, batch_size=batch_size, include_dead=include_dead, dry_run=dry_run
    )
    left = {
        (index_of[(ct, pk)], attempt, kind)
        for ct, pk, attempt, kind in AssignmentEvent.objects.values_list(
            "content_type_id", "object_pk", "attempt", "kind"
        )
    }
    return left, expected(world, include_dead), result, before


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    world=st.lists(assignment_spec, max_size=6),
    batch_size=st.integers(min_value=1, max_value=7),
    include_dead=st.booleans(),
    dry_run=st.booleans(),
)
def test_prune_leaves_exactly_what_the_rules_keep(
    driver, world, batch_size, include_dead, dry_run
):
    # Each example in a transaction rolled back: every one starts empty.
    with transaction.atomic():
        left, keep, result, before = run_world(
            world, driver, batch_size, include_dead, dry_run
        )
        if dry_run:
            assert len(left) == before
        else:
            assert left == keep
        assert result.deleted == before - len(keep)
        assert result.batches <= before // batch_size + 1
        transaction.set_rollback(True)


def test_the_property_sees_a_pruner_that_forgets_open_offers(driver, monkeypatch):
    # The same harness against a broken pruner (no offer counts as open)
    # must find the difference: the property can fail.
    monkeypatch.setattr(retention, "_open_attempts", lambda *args: set())
    world = [
        {
            "model": model,
            "open_attempt": 2,
            "deleted": False,
            "events": [
                (2, "offered", "delivered", 400),
                (1, "offered", "delivered", 400),
            ],
        }
        for model in ("stock", "ticket")
    ]
    left, keep, _result, _before = run_world(world, driver, 3, False, False)
    assert keep == {(0, 2, "offered"), (1, 2, "offered")}
    assert left == set() != keep
