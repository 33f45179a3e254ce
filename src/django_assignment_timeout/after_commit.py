"""What runs after a transition commits: signals, then the scheduler's triggers.

Nothing here may undo or fail a committed change, so every failure is logged
and swallowed: schedulers are triggers, not truth, and the next sweep repairs
what a lost trigger left behind. The lifecycle and the sweep register these
with ``transaction.on_commit``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django_assignment_timeout import signals
from django_assignment_timeout.schedulers import get_scheduler

if TYPE_CHECKING:
    from django.db import models
    from django.dispatch import Signal

    from django_assignment_timeout.events import AssignmentEvent

logger = logging.getLogger("django_assignment_timeout")

__all__ = [
    "after_answer",
    "after_exhausted",
    "after_expiry",
    "after_extension",
    "after_offer",
    "after_round",
    "after_withdrawal",
    "announce_expiry",
    "schedule_delivery",
    "schedule_expiry",
    "send_signal",
]


def send_signal(signal: Signal, sender: type[models.Model], **kwargs: Any) -> None:
    """Send ``signal``; a failing receiver is logged and does not stop the others.

    ``send_robust()`` itself logs each failure, with its traceback, on the
    ``django.dispatch`` logger (every Django this library supports does), so
    nothing is logged here: a second record would only repeat the traceback.
    """
    signal.send_robust(sender=sender, **kwargs)


def schedule_expiry(
    model: type[models.Model], pk: Any, attempt: int, deadline: Any
) -> None:
    """Ask the scheduler to expire one offer at its deadline."""
    try:
        get_scheduler().schedule_expiry(model, pk, attempt, deadline)
    except Exception:
        logger.exception(
            "Could not schedule the expiry of %s %s (attempt %s); the sweep will expire it.",
            model._meta.label,
            pk,
            attempt,
        )


def schedule_delivery() -> None:
    """Ask the scheduler to deliver the events just written."""
    try:
        get_scheduler().schedule_delivery()
    except Exception:
        logger.exception(
            "Could not trigger notification delivery; the next sweep will deliver."
        )


def after_offer(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    assignee_pk: Any,
    deadline: Any,
    event: AssignmentEvent,
) -> None:
    """Announce a committed offer, arm its precise expiry, trigger delivery."""
    _announce_deadline(
        signals.assignment_offered, model, pk, attempt, assignee_pk, deadline, event
    )


def after_round(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    deadline: Any,
    assignee_pks: list[Any],
    events: list[AssignmentEvent],
) -> None:
    """Announce a committed broadcast round: one offer per candidate, one expiry."""
    for assignee_pk, event in zip(assignee_pks, events, strict=True):
        send_signal(
            signals.assignment_offered,
            model,
            pk=pk,
            attempt=attempt,
            assignee_pk=assignee_pk,
            deadline=deadline,
            event=event,
        )
    schedule_expiry(model, pk, attempt, deadline)
    schedule_delivery()


def after_answer(
    model: type[models.Model],
    pk: Any,
    kind: str,
    attempt: int,
    assignee_pk: Any,
    reason: str,
    event: AssignmentEvent,
) -> None:
    """Announce a committed accept or reject and trigger delivery."""
    signal = (
        signals.assignment_accepted
        if kind == "accepted"
        else signals.assignment_rejected
    )
    extra = {"reason": reason} if kind == "rejected" else {}
    send_signal(
        signal,
        model,
        pk=pk,
        attempt=attempt,
        assignee_pk=assignee_pk,
        event=event,
        **extra,
    )
    schedule_delivery()


def announce_expiry(
    model: type[models.Model], expired: list[signals.ExpiredOffer]
) -> None:
    """Send ``assignment_expired`` for committed expiries (a sweep batch)."""
    send_signal(signals.assignment_expired, model, expired=expired)


def after_expiry(
    model: type[models.Model], expired: list[signals.ExpiredOffer]
) -> None:
    """Announce committed expiries and trigger their delivery."""
    announce_expiry(model, expired)
    schedule_delivery()


def after_withdrawal(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    assignee_pk: Any,
    reason: str,
    event: AssignmentEvent,
) -> None:
    """Announce a committed withdrawal and trigger delivery of its event."""
    send_signal(
        signals.assignment_withdrawn,
        model,
        pk=pk,
        attempt=attempt,
        assignee_pk=assignee_pk,
        reason=reason,
        event=event,
    )
    schedule_delivery()


def after_extension(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    assignee_pk: Any,
    deadline: Any,
    event: AssignmentEvent,
) -> None:
    """Announce a committed extension, re-arm its expiry, trigger delivery.

    The expiry armed for the old deadline stays armed where the backend can
    not revoke it: it finds the offer not due (:class:`.OfferNotDue`) and does
    nothing, so only the one armed here expires it.
    """
    _announce_deadline(
        signals.assignment_extended, model, pk, attempt, assignee_pk, deadline, event
    )


def _announce_deadline(
    signal: Signal,
    model: type[models.Model],
    pk: Any,
    attempt: int,
    assignee_pk: Any,
    deadline: Any,
    event: AssignmentEvent,
) -> None:
    # An offer and an extension both set a deadline: the signal, the precise
    # expiry at that deadline, then delivery.
    send_signal(
        signal,
        model,
        pk=pk,
        attempt=attempt,
        assignee_pk=assignee_pk,
        deadline=deadline,
        event=event,
    )
    schedule_expiry(model, pk, attempt, deadline)
    schedule_delivery()


def after_exhausted(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    reason: str,
    event: AssignmentEvent,
) -> None:
    """Announce a dispatch chain that ran out, and trigger delivery of its event."""
    send_signal(
        signals.assignment_exhausted,
        model,
        pk=pk,
        attempt=attempt,
        reason=reason,
        event=event,
    )
    schedule_delivery()
