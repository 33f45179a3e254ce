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
A retry re-sends the event to all of its recipients and backends (the outbox
keeps no per-recipient state), which the collapse key also absorbs.
``next_attempt_at`` is NULL exactly when an event is delivered or dead: the
relay's partial index covers only the backlog.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import F

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.expressions import DatabaseNow, deadline_in
from django_assignment_timeout.notifiers.base import (
    Notification,
    RecipientResult,
    Status,
    recipient_key,
)
from django_assignment_timeout.notifiers.content import _ASSIGNEE_CACHE, assignee_model
from django_assignment_timeout.options import require_positive_ints

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from django_assignment_timeout.models import (
        AssignmentEvent,
        AssignmentEventQuerySet,
    )
    from django_assignment_timeout.notifiers.base import BaseNotifier

logger = logging.getLogger("django_assignment_timeout.delivery")

#: Longest ``last_error`` kept on an event.
MAX_ERROR_LENGTH = 2000
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


@dataclass
class _Outcome:
    event: AssignmentEvent
    state: str  # "delivered", "retry" or "dead"
    retry_after: float = 0.0
    error: str = ""


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
    from django_assignment_timeout.notifiers import get_notifiers

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
        outcomes = send_batch(events, notifiers)
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
    from django_assignment_timeout.models import AssignmentEvent, DeliveryState

    using = using or router.db_for_write(AssignmentEvent)
    return AssignmentEvent.objects.using(using).filter(
        delivery_state=DeliveryState.PENDING, next_attempt_at__lte=DatabaseNow()
    )


def claim_batch(batch_size: int) -> list[AssignmentEvent]:
    """Claim up to ``batch_size`` due events for one lease, and commit."""
    from django_assignment_timeout.models import AssignmentEvent

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


def send_batch(
    events: Sequence[AssignmentEvent], notifiers: dict[str, BaseNotifier]
) -> list[_Outcome]:
    """Build the events' notifications and send them through every backend."""
    notifications, errors = _build(events)
    results: dict[int, list[RecipientResult]] = defaultdict(list)
    for alias, notifier in notifiers.items():
        if notifications:
            for res in _send_one(alias, notifier, notifications):
                results[res.notification.event_id or 0].append(res)
    expected: dict[int, int] = defaultdict(int)
    for notification in notifications:
        expected[notification.event_id or 0] += len(notification.recipients) * len(
            notifiers
        )
    outcomes = []
    for event in events:
        event_results = results.get(event.pk, [])
        event_errors = list(errors.get(event.pk, []))
        if len(event_results) < expected[event.pk]:
            event_errors.append("a notifier returned no result for some recipients")
        outcomes.append(_outcome(event, event_results, event_errors))
    return outcomes


def record(outcomes: Iterable[_Outcome], result: DeliveryResult | None = None) -> None:
    """Write delivered / retry / dead for each outcome, fenced on its claim.

    Outcomes with the same state, attempt count, error and retry-after share
    one UPDATE (a mass failure is a handful of statements, not one per
    event); a retry group gets one jittered delay.
    """
    from django_assignment_timeout.models import AssignmentEvent, DeliveryState

    result = result if result is not None else DeliveryResult()
    groups: dict[tuple[str, int, str, float], list[int]] = defaultdict(list)
    for o in outcomes:
        key = (o.state, o.event.delivery_attempts, o.error, o.retry_after)
        groups[key].append(o.event.pk)
    using = router.db_for_write(AssignmentEvent)
    with transaction.atomic(using=using):
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


def requeue_dead(pks: Iterable[int] | None = None) -> int:
    """Make dead events (all, or those with ``pks``) due again with fresh tries."""
    from django_assignment_timeout.models import AssignmentEvent, DeliveryState

    events = AssignmentEvent.objects.filter(delivery_state=DeliveryState.DEAD)
    if pks is not None:
        events = events.filter(pk__in=list(pks))
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


# -- internals ---------------------------------------------------------------


def _build(
    events: Sequence[AssignmentEvent],
) -> tuple[list[Notification], dict[int, list[str]]]:
    """Each event's notifications, loading assignments and assignees in bulk."""
    from django_assignment_timeout.models import ExpiringAssignmentMixin

    notifications: list[Notification] = []
    errors: dict[int, list[str]] = defaultdict(list)
    by_type: dict[int, list[AssignmentEvent]] = defaultdict(list)
    for event in events:
        by_type[event.content_type_id].append(event)
    for type_id, group in by_type.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        if model is None or not issubclass(model, ExpiringAssignmentMixin):
            for event in group:
                errors[event.pk].append(
                    f"unknown assignment model (content type {type_id})"
                )
            continue
        assignments = {
            str(pk): obj
            for pk, obj in model._base_manager.in_bulk(
                {e.object_pk for e in group}
            ).items()
        }
        people = assignee_model(model)
        assignees = {
            str(pk): obj
            for pk, obj in people._base_manager.in_bulk(
                {e.assignee_pk for e in group if e.assignee_pk is not None}
            ).items()
        }
        for event in group:
            assignment = assignments.get(event.object_pk)
            if assignment is None:
                continue  # deleted since: nothing to say, nobody to tell
            setattr(event, _ASSIGNEE_CACHE, assignees.get(event.assignee_pk or ""))
            # Prime the generic relation so a hook reading event.assignment does not query.
            event._meta.get_field("assignment").set_cached_value(event, assignment)
            try:
                built = assignment.assignment_notifications(event)
                for notification in built:
                    if not isinstance(notification, Notification):
                        raise TypeError(f"{notification!r} is not a Notification")
            except Exception as err:
                logger.exception(
                    "assignment_notifications() failed for event %s", event.pk
                )
                errors[event.pk].append(f"assignment_notifications() failed: {err!r}")
                continue
            notifications.extend(
                replace(n, event_id=event.pk) for n in built if n.recipients
            )
    return notifications, errors


def _send_one(
    alias: str, notifier: BaseNotifier, notifications: list[Notification]
) -> list[RecipientResult]:
    try:
        return list(notifier.send(notifications))
    except Exception as err:
        # One backend's failure never stops the others; its recipients retry.
        logger.exception("Notifier %r failed; its notifications will be retried", alias)
        return [
            RecipientResult(n, r, Status.RETRY, error=f"{alias}: {err}")
            for n in notifications
            for r in n.recipients
        ]


def _outcome(
    event: AssignmentEvent, results: list[RecipientResult], errors: list[str]
) -> _Outcome:
    retry = [r for r in results if r.status == Status.RETRY]
    failed = [r for r in results if r.status == Status.FAILED]
    invalid = [r for r in results if r.status == Status.INVALID_RECIPIENT]
    messages = list(errors)
    # Temporary failures are named without their recipient, so that events
    # failing alike share one recording UPDATE; permanent ones name who.
    messages += sorted({f"retry: {r.error}".rstrip(": ") for r in retry})
    for label, group in (("failed", failed), ("invalid recipient", invalid)):
        messages += [f"{label}: {recipient_key(r.recipient)}: {r.error}" for r in group]
    error = "; ".join(messages)[:MAX_ERROR_LENGTH]
    if retry or errors:
        if event.delivery_attempts >= app_settings.DELIVERY_MAX_ATTEMPTS:
            logger.error(
                "Event %s is dead after %s tries: %s",
                event.pk,
                event.delivery_attempts,
                error,
            )
            return _Outcome(event, "dead", error=error)
        retry_after = max((r.retry_after or 0.0 for r in retry), default=0.0)
        return _Outcome(event, "retry", retry_after=retry_after, error=error)
    if failed:
        logger.error("Event %s failed permanently: %s", event.pk, error)
        return _Outcome(event, "dead", error=error)
    return _Outcome(event, "delivered", error=error)
