"""Sending one claimed batch: what each event becomes, through every notifier.

Outside any transaction: the batch's assignments and assignees are loaded in
bulk, each assignment says what to send (``assignment_notifications(event)``),
and every notifier backend gets the whole batch. A failing backend is logged
and never stops the others; each event's :class:`Outcome` says whether it was
delivered, is retried, or is dead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout import signals
from django_assignment_timeout.clock import ClockReading
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.notifications import assignee_model, prime_assignee
from django_assignment_timeout.notifiers.base import (
    Notification,
    RecipientResult,
    Status,
    recipient_key,
)
from django_assignment_timeout.options import is_adopter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django_assignment_timeout.events import AssignmentEvent
    from django_assignment_timeout.notifiers.base import BaseNotifier

logger = logging.getLogger("django_assignment_timeout.delivery")

__all__ = ["MAX_ERROR_LENGTH", "Outcome", "send_batch"]

#: Longest ``last_error`` kept on an event.
MAX_ERROR_LENGTH = 2000


@dataclass
class Outcome:
    """What sending did for one event: delivered, retry (after how long) or dead."""

    event: AssignmentEvent
    state: str  # "delivered", "retry" or "dead"
    retry_after: float = 0.0
    error: str = ""


def send_batch(
    events: Sequence[AssignmentEvent], notifiers: dict[str, BaseNotifier]
) -> list[Outcome]:
    """Build the events' notifications and send them through every backend."""
    notifications, errors = _build(events)
    if any(n.expires_at is not None for n in notifications):
        # One reading of the database clock per batch: notifiers measure the
        # time an offer has left against it, not against this server's clock.
        clock = ClockReading.read(events[0]._state.db or "default")
        notifications = [replace(n, clock=clock) for n in notifications]
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
    event: AssignmentEvent, results: list[RecipientResult], errors: list[str]
) -> Outcome:
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
            return Outcome(event, "dead", error=error)
        retry_after = max((r.retry_after or 0.0 for r in retry), default=0.0)
        return Outcome(event, "retry", retry_after=retry_after, error=error)
    if failed:
        logger.error("Event %s failed permanently: %s", event.pk, error)
        return Outcome(event, "dead", error=error)
    return Outcome(event, "delivered", error=error)
