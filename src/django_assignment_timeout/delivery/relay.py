"""The notification relay (outbox): claim due events, notify, record the outcome.

One batch is three steps, and only the first and last touch the database:

1. **Claim** (one short transaction): lock up to ``batch_size`` due events
   (``SELECT ... FOR UPDATE SKIP LOCKED`` where the database has it, so
   concurrent relays split the work), push their ``next_attempt_at`` one lease
   into the future and count the attempt. Then commit.
2. **Send**, outside any transaction: load the batch's assignments and
   assignees in bulk, ask each assignment what to send
   (``assignment_notifications(event)``), and call every notifier backend with
   the whole batch. A failing backend is logged and never stops the others.
3. **Record** (one short transaction): delivered, retry later (exponential
   backoff with jitter, at least the service's retry-after), or dead after
   ``DELIVERY_MAX_ATTEMPTS``. Each update is fenced on the attempt count the
   claim wrote, so a relay whose lease ran out can not overwrite a newer claim.

A relay that dies between 2 and 3 leaves its events claimed until the lease
ends; the next run sends them again. Delivery is therefore at-least-once, with
at most one duplicate per crash, and pushes carry a collapse key per
(assignment, attempt) so that duplicate replaces the first copy on the device.
A retry sends only to the recipients that did not get it: the record step
writes a row per (event, recipient, backend) that failed (none for a clean
delivery), and the next try sends to those rows alone
(:mod:`~django_assignment_timeout.delivery.recipients`).
A recipient given up on is a dead letter of its own, and its event is dead
until no recipient is; :func:`requeue_dead` owes them again.
``next_attempt_at`` is NULL exactly when an event is delivered or dead: the
relay's partial index covers only the backlog.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction
from django.db.models import F

from django_assignment_timeout.chains import advance_chains
from django_assignment_timeout.clock import (
    DatabaseNow,
    deadline_in,
    seconds_until_earliest,
)
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.delivery import recipients
from django_assignment_timeout.delivery.recipients import load_ledgers
from django_assignment_timeout.delivery.sending import Outcome, send_batch
from django_assignment_timeout.events import (
    AssignmentEvent,
    AssignmentEventQuerySet,
    DeliveryState,
)
from django_assignment_timeout.notifiers import get_notifiers
from django_assignment_timeout.recipient_delivery import (
    RecipientDelivery,
    RecipientState,
    stored_key,
)
from django_assignment_timeout.validation import require_positive_ints

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "RECORD_CHUNK",
    "DeliveryResult",
    "backoff",
    "claim_batch",
    "deliver_pending",
    "due_events",
    "next_attempt",
    "record",
    "requeue_dead",
    "requeue_recipients",
]

logger = logging.getLogger("django_assignment_timeout.delivery")

#: Events per recording UPDATE (keeps statements under every backend's parameter limit).
RECORD_CHUNK = 100


@dataclass
class DeliveryResult:
    """What one delivery run did."""

    #: Events whose notifications were all sent (or had nobody to go to).
    delivered: int = 0
    #: Events that will be tried again later.
    retried: int = 0
    #: Events given up on (too many tries, or a permanent failure).
    dead: int = 0
    #: True when the run stopped at its batch limit with events still due.
    has_more: bool = False


def deliver_pending(
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    time_budget: float | None = None,
) -> DeliveryResult:
    """Deliver due, undelivered events in bounded batches.

    With ``time_budget`` (seconds), no new batch is claimed once that much
    time has passed, and ``has_more`` says whether events are left; a sweep
    loop passes its interval so a delivery backlog never delays its sweeps.

    ``batch_size`` defaults to ``ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE`` and
    ``max_batches`` to ``ASSIGNMENT_TIMEOUT_MAX_BATCHES``. Safe to run
    concurrently in several processes. Raises
    :class:`~django_assignment_timeout.exceptions.ConfigurationError` when
    ``ASSIGNMENT_TIMEOUT_NOTIFIERS`` can not be loaded (nothing is claimed then).
    """
    batch_size = app_settings.DELIVERY_BATCH_SIZE if batch_size is None else batch_size
    max_batches = app_settings.MAX_BATCHES if max_batches is None else max_batches
    require_positive_ints(batch_size=batch_size, max_batches=max_batches)
    notifiers = get_notifiers()
    result = DeliveryResult()
    tried: set[int] = set()
    started = time.monotonic()
    for index in range(max_batches):
        if (
            index
            and time_budget is not None
            and time.monotonic() - started >= time_budget
        ):
            result.has_more = due_events().exists()
            break
        events = claim_batch(batch_size)
        if not events:
            break
        using = router.db_for_write(AssignmentEvent)
        # A dispatch chain's next step comes before the event is sent: an
        # event whose step failed is not sent and is tried again, step first.
        stalled = advance_chains(events)
        ready = [e for e in events if e.pk not in stalled]
        outcomes = send_batch(ready, notifiers, load_ledgers(ready, using))
        outcomes += [
            Outcome(e, "retry", error=stalled[e.pk]) for e in events if e.pk in stalled
        ]
        record(outcomes, result)
        if len(events) < batch_size:
            break
        # A run does not spin on a failing service: it ends when a whole
        # batch failed, or when it meets an event it already tried (a short
        # backoff made it due again); the next trigger carries on.
        again = any(e.pk in tried for e in events)
        tried.update(e.pk for e in events)
        if again or all(o.state != "delivered" for o in outcomes):
            result.has_more = True
            break
    else:
        result.has_more = due_events().exists()
    return result


def due_events(using: str | None = None) -> AssignmentEventQuerySet:
    """Undelivered events whose next attempt is due on the database clock."""
    using = using or router.db_for_write(AssignmentEvent)
    return AssignmentEvent.objects.using(using).filter(
        delivery_state=DeliveryState.PENDING, next_attempt_at__lte=DatabaseNow()
    )


def next_attempt(using: str | None = None) -> float | None:
    """Seconds until the earliest undelivered event is due, on the database clock.

    One probe of the relay's partial index; negative when an event is due
    now, ``None`` when none is waiting. A loop sleeps until then.
    """
    using = using or router.db_for_write(AssignmentEvent)
    return seconds_until_earliest(
        AssignmentEvent.objects.using(using).all(), "next_attempt_at"
    )


def claim_batch(batch_size: int) -> list[AssignmentEvent]:
    """Claim up to ``batch_size`` due events for one lease, and commit."""
    using = router.db_for_write(AssignmentEvent)
    features = connections[using].features
    with transaction.atomic(using=using):
        events = list(
            due_events(using)
            .order_by("next_attempt_at", "pk")
            .select_for_update(skip_locked=features.has_select_for_update_skip_locked)[
                :batch_size
            ]
        )
        if events:
            AssignmentEvent.objects.using(using).filter(
                pk__in=[e.pk for e in events]
            ).update(
                next_attempt_at=deadline_in(float(app_settings.DELIVERY_LEASE)),
                delivery_attempts=F("delivery_attempts") + 1,
            )
    for event in events:
        # The fence record() checks: the count this claim wrote.
        event.delivery_attempts += 1
    return events


def record(outcomes: Iterable[Outcome], result: DeliveryResult | None = None) -> None:
    """Write delivered / retry / dead for each outcome, fenced on its claim.

    Outcomes with the same state, attempt count, error and retry-after share
    one UPDATE (a mass failure is a handful of statements, not one per
    event); a retry group gets one jittered delay.
    """
    result = result if result is not None else DeliveryResult()
    groups: dict[tuple[str, int, str, float], list[int]] = defaultdict(list)
    with_rows: dict[int, Outcome] = {}
    for o in outcomes:
        key = (o.state, o.event.delivery_attempts, o.error, o.retry_after)
        groups[key].append(o.event.pk)
        if o.answers:
            with_rows[o.event.pk] = o
    using = router.db_for_write(AssignmentEvent)
    with transaction.atomic(using=using):
        fenced_out: set[int] = set()
        for (state, attempts, error, retry_after), pks in groups.items():
            values: dict[str, Any] = {"last_error": error}
            if state == "retry":
                delay = backoff(attempts, retry_after)
                values["next_attempt_at"] = deadline_in(delay)
                logger.warning(
                    "%d event(s) will be retried in %.2fs: %s", len(pks), delay, error
                )
            else:
                values["next_attempt_at"] = None
                values["delivery_state"] = (
                    DeliveryState.DELIVERED
                    if state == "delivered"
                    else DeliveryState.DEAD
                )
                if state == "delivered":
                    values["delivered_at"] = DatabaseNow()
            for start in range(0, len(pks), RECORD_CHUNK):
                chunk = pks[start : start + RECORD_CHUNK]
                changed = (
                    AssignmentEvent.objects.using(using)
                    .filter(
                        pk__in=chunk,
                        delivery_attempts=attempts,
                        delivery_state=DeliveryState.PENDING,
                    )
                    .update(**values)
                )
                if changed < len(chunk):
                    # Our lease ran out and another relay claimed them: its
                    # record wins; these were sent twice (at-least-once).
                    fenced_out.update(_not_ours(chunk, attempts, with_rows, using))
                    logger.warning(
                        "%d of %d events were re-claimed before their outcome "
                        "was recorded",
                        len(chunk) - changed,
                        len(chunk),
                    )
                if state == "delivered":
                    result.delivered += changed
                elif state == "retry":
                    result.retried += changed
                else:
                    result.dead += changed
        # Each event's recipient rows in the transaction of its own record,
        # and only where that record won its fence.
        recipients.write(
            (
                (pk, o.answers, o.ledger)
                for pk, o in with_rows.items()
                if pk not in fenced_out
            ),
            using,
        )


def _not_ours(
    chunk: list[int], attempts: int, with_rows: dict[int, Outcome], using: str
) -> set[int]:
    """The events of ``chunk`` with rows to write that another claim took from us."""
    candidates = [pk for pk in chunk if pk in with_rows]
    if not candidates:
        return set()
    # Recording leaves the attempt count alone: those still at ours are ours.
    ours = AssignmentEvent.objects.using(using).filter(
        pk__in=candidates, delivery_attempts=attempts
    )
    return set(candidates) - set(ours.values_list("pk", flat=True))


def requeue_dead(
    pks: Iterable[int] | None = None,
    *,
    recipient: str | None = None,
    backend: str | None = None,
) -> int:
    """Make dead events (all, or those with ``pks``) due again with fresh tries.

    Their dead recipients are owed again, and the next try sends only to them
    (an event with no recipient rows, dead before any was sent, goes to
    everyone). ``recipient`` (a :func:`~.notifiers.base.recipient_key`) and
    ``backend`` (an alias) narrow it to the dead recipients that match, and
    to the events that have one. Returns how many events were re-queued.
    """
    using = router.db_for_write(AssignmentEvent)
    events = AssignmentEvent.objects.using(using).filter(
        delivery_state=DeliveryState.DEAD
    )
    if pks is not None:
        events = events.filter(pk__in=list(pks))
    rows = RecipientDelivery.objects.using(using).dead().filter(event__in=events)
    narrowed = recipient is not None or backend is not None
    if recipient is not None:
        rows = rows.filter(recipient_key=stored_key(recipient))
    if backend is not None:
        rows = rows.filter(backend=backend)
    with transaction.atomic(using=using):
        rows.update(state=RecipientState.RETRY, updated_at=DatabaseNow())
        return _requeue(events, only_owed=narrowed)


def requeue_recipients(row_pks: Iterable[int]) -> int:
    """Re-queue these dead recipient rows; their events are due again.

    Only rows whose event is dead: while an event is still being tried, the
    relay decides its recipients (re-queue them once it has given up).
    Returns how many recipient rows were re-queued.
    """
    using = router.db_for_write(AssignmentEvent)
    rows = (
        RecipientDelivery.objects.using(using)
        .dead()
        .filter(pk__in=list(row_pks), event__delivery_state=DeliveryState.DEAD)
    )
    dead = AssignmentEvent.objects.using(using).filter(
        delivery_state=DeliveryState.DEAD
    )
    with transaction.atomic(using=using):
        count = rows.update(state=RecipientState.RETRY, updated_at=DatabaseNow())
        _requeue(dead, only_owed=True)
    return count


def _requeue(events: AssignmentEventQuerySet, *, only_owed: bool) -> int:
    """Make dead ``events`` due with fresh tries (``only_owed``: those owing a recipient).

    A dead event owes no recipient (its last try turned every owed row
    dead), so "owes one" means "was just re-queued for one"; queried, not
    listed, so a large re-queue is one statement whatever the database's
    parameter limit.
    """
    if only_owed:
        owing = RecipientDelivery.objects.using(events.db).owed().values("event_id")
        events = events.filter(pk__in=owing)
    return events.update(
        delivery_state=DeliveryState.PENDING,
        delivery_attempts=0,
        next_attempt_at=DatabaseNow(),
    )


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before try ``attempts + 1``: doubling, jittered, capped, >= retry-after."""
    base = float(app_settings.DELIVERY_BACKOFF)
    cap = float(app_settings.DELIVERY_BACKOFF_MAX)
    # (typeshed types int ** int as Any: a negative power would be a float)
    delay: float = min(cap, base * 2 ** max(attempts - 1, 0))
    # "Equal jitter": relays that failed together do not retry together, and
    # the delay still grows with every try.
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, retry_after or 0.0)
