"""Sending one claimed batch: what each event becomes, through every notifier.

Outside any transaction: the batch's assignments and assignees are loaded in
bulk, each assignment says what to send (``assignment_notifications(event)``),
and every notifier backend gets the whole batch, less the recipients a retried
event no longer owes (:mod:`~django_assignment_timeout.delivery.recipients`).
A failing backend is logged and never stops the others; each event's
:class:`Outcome` says whether it was delivered, is retried, or is dead, and
what each recipient that did not get it at once is left with.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout import signals
from django_assignment_timeout.clock import ClockReading
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.delivery.recipients import (
    STATE_OF,
    Answer,
    Ledger,
    Pair,
    key_of,
    narrow,
)
from django_assignment_timeout.notifications import assignee_model, prime_assignee
from django_assignment_timeout.notifiers.base import (
    Notification,
    RecipientResult,
    Status,
    recipient_key,
)
from django_assignment_timeout.options import is_adopter
from django_assignment_timeout.recipient_delivery import RecipientState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django_assignment_timeout.events import AssignmentEvent
    from django_assignment_timeout.notifiers.base import BaseNotifier

logger = logging.getLogger("django_assignment_timeout.delivery")

__all__ = ["MAX_ERROR_LENGTH", "Outcome", "send_batch"]

#: Longest ``last_error`` kept on an event.
MAX_ERROR_LENGTH = 2000

#: Statuses from worst to best: what a recipient's several results come to.
_SEVERITY = (
    Status.RETRY,
    Status.FAILED,
    Status.INVALID_RECIPIENT,
    Status.SENT,
    # Not sent because the offer it announces had ended: final, owed nothing.
    Status.EXPIRED,
)


@dataclass
class Outcome:
    """What sending did for one event: delivered, retry (after how long) or dead."""

    event: AssignmentEvent
    state: str  # "delivered", "retry" or "dead"
    retry_after: float = 0.0
    error: str = ""
    #: What the try leaves for each (backend, recipient) it did not deliver to
    #: at once, or that was owed from before (see
    #: :mod:`~django_assignment_timeout.delivery.recipients`).
    answers: dict[Pair, Answer] = field(default_factory=dict)
    #: The event's rows as the try found them.
    ledger: Ledger = field(default_factory=Ledger)


def send_batch(
    events: Sequence[AssignmentEvent],
    notifiers: dict[str, BaseNotifier],
    ledgers: dict[int, Ledger] | None = None,
) -> list[Outcome]:
    """Build the events' notifications and send them through every backend.

    An event with a
    :class:`~django_assignment_timeout.delivery.recipients.Ledger` in
    ``ledgers`` is a retry:
    each backend sends it only to the recipients it still owes.
    """
    ledgers = ledgers or {}
    notifications, errors = _build(events)
    if any(n.expires_at is not None for n in notifications):
        # One reading of the database clock per batch: notifiers measure the
        # time an offer has left against it, not against this server's clock.
        clock = ClockReading.read(events[0]._state.db or "default")
        notifications = [replace(n, clock=clock) for n in notifications]
    answered: dict[int, dict[Pair, list[RecipientResult]]] = defaultdict(
        lambda: defaultdict(list)
    )
    expected: dict[int, set[Pair]] = defaultdict(set)
    for alias, notifier in notifiers.items():
        chosen = narrow(notifications, alias, ledgers)
        if not chosen:
            continue
        for n in chosen:
            expected[n.event_id or 0].update((alias, key_of(r)) for r in n.recipients)
        for res in _send_one(alias, notifier, chosen):
            event_id = res.notification.event_id or 0
            answered[event_id][(alias, key_of(res.recipient))].append(res)
    return [
        _outcome(
            event,
            answered.get(event.pk, {}),
            expected.get(event.pk, set()),
            errors.get(event.pk, []),
            ledgers.get(event.pk) or Ledger(),
        )
        for event in events
    ]


def _build(
    events: Sequence[AssignmentEvent],
) -> tuple[list[Notification], dict[int, list[str]]]:
    """Each event's notifications, loading assignments and assignees in bulk."""
    notifications: list[Notification] = []
    errors: dict[int, list[str]] = defaultdict(list)
    by_type: dict[int, list[AssignmentEvent]] = defaultdict(list)
    for event in events:
        by_type[event.content_type_id].append(event)
    for type_id, group in by_type.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        if not is_adopter(model):
            for event in group:
                errors[event.pk].append(
                    f"unknown assignment model (content type {type_id})"
                )
            continue
        # Any: adopting models have the mixin's methods, which Model lacks.
        assignments: dict[str, Any] = {
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
            prime_assignee(event, assignees.get(event.assignee_pk or ""))
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
        results = list(notifier.send(notifications))
    except Exception as err:
        # One backend's failure never stops the others; its recipients retry.
        logger.exception("Notifier %r failed; its notifications will be retried", alias)
        results = [
            RecipientResult(
                n, r, Status.RETRY, error=f"{alias}: {err}", code="EXCEPTION"
            )
            for n in notifications
            for r in n.recipients
        ]
    if signals.notifications_sent.has_listeners(type(notifier)):
        # send_robust: a failing receiver (metrics) is logged, never fails a send.
        signals.notifications_sent.send_robust(
            sender=type(notifier), notifier=alias, results=results
        )
    return results


def _outcome(
    event: AssignmentEvent,
    answered: dict[Pair, list[RecipientResult]],
    expected: set[Pair],
    errors: list[str],
    ledger: Ledger,
) -> Outcome:
    answers: dict[Pair, Answer] = {}
    worst: dict[Status, list[RecipientResult]] = defaultdict(list)
    missing = False
    for pair in sorted(expected | answered.keys()):
        results = answered.get(pair, [])
        if not results:
            missing = True
            answers[pair] = Answer(RecipientState.RETRY, "no result from the notifier")
            continue
        # A recipient named by two notifications of one event: the worse wins.
        status = next(s for s in _SEVERITY if any(r.status == s for r in results))
        result = next(r for r in results if r.status == status)
        worst[status].append(result)
        answers[pair] = Answer(STATE_OF[status], result.error[:MAX_ERROR_LENGTH])
    messages = list(errors)
    if missing:
        messages.append("a notifier returned no result for some recipients")
    # Temporary failures are named without their recipient, so that events
    # failing alike share one recording UPDATE; permanent ones name who.
    messages += sorted({f"retry: {r.error}".rstrip(": ") for r in worst[Status.RETRY]})
    for label, status in (
        ("failed", Status.FAILED),
        ("invalid recipient", Status.INVALID_RECIPIENT),
    ):
        messages += [
            f"{label}: {recipient_key(r.recipient)}: {r.error}" for r in worst[status]
        ]
    # Recipients given up on in an earlier try keep the event dead: say who.
    messages += [f"dead: {key} via {alias}" for alias, key in sorted(ledger.dead)]
    error = "; ".join(messages)[:MAX_ERROR_LENGTH]
    for pair in ledger.owed.keys() - answers.keys():
        # Owed but not addressed: kept when nothing could be built this try,
        # else the event no longer names this recipient (or the backend is gone).
        answers[pair] = Answer(RecipientState.RETRY if errors else None, error)
    retrying = [a for a in answers.values() if a.state == RecipientState.RETRY]
    if not (ledger.owed or ledger.dead) and len(retrying) == len(answers):
        # Nobody got it (a service down): with no rows the next try goes to
        # everyone anyway, so a mass failure writes no row per recipient.
        answers = {}
    else:
        # A recipient that got it at once needs no row either.
        answers = {
            pair: answer
            for pair, answer in answers.items()
            if answer.state != RecipientState.DELIVERED or pair in ledger.owed
        }
    if retrying or errors:
        if event.delivery_attempts >= app_settings.DELIVERY_MAX_ATTEMPTS:
            logger.error(
                "Event %s is dead after %s tries: %s",
                event.pk,
                event.delivery_attempts,
                error,
            )
            for answer in retrying:
                answer.state = RecipientState.DEAD
            return Outcome(event, "dead", error=error, answers=answers, ledger=ledger)
        retry_after = max(
            (r.retry_after or 0.0 for r in worst[Status.RETRY]), default=0.0
        )
        return Outcome(
            event,
            "retry",
            retry_after=retry_after,
            error=error,
            answers=answers,
            ledger=ledger,
        )
    if worst[Status.FAILED] or ledger.dead:
        logger.error("Event %s failed permanently: %s", event.pk, error)
        return Outcome(event, "dead", error=error, answers=answers, ledger=ledger)
    return Outcome(event, "delivered", error=error, answers=answers, ledger=ledger)
