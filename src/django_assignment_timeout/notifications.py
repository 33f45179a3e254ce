"""What an event becomes: the notifications the relay sends, and to whom.

This is content, not a notifier backend: the relay asks each assignment's
``assignment_notifications(event)`` what to send, then hands the result to
every configured backend.

A model that uses the mixin decides what each event becomes by overriding
:meth:`~django_assignment_timeout.models.ExpiringAssignmentMixin.assignment_notifications`.
The default (:func:`default_notifications`) is:

* ``offered``: the assignee gets "New assignment" while the offer is still the
  current one (an offer that has already ended is not announced). The
  message expires with the offer (``expires_at`` is the offer's deadline):
  a push service drops it at the deadline, and a relay that reaches it later
  does not send it;
* ``reminded``: the assignee gets "Offer ends soon" ("Less than 1 minute left
  to accept ..."), on the same terms as ``offered``: only while that attempt
  is still the open offer, under its collapse key, expiring at its deadline.
  The minutes are the time the offer had left when the reminder was written
  (both ends on the database clock), rounded up: still true when it arrives;
* ``extended``: the assignee gets "Offer extended" ("5 more minutes to
  accept ..."), on the same terms as ``offered``, expiring at the offer's
  current deadline. The minutes are the time the offer had left when it was
  extended (both ends on the database clock), rounded up;
* ``accepted``, ``rejected``, ``expired`` and ``withdrawn``: the assignee gets
  the message that ends the offer ("Offer accepted", "Offer declined", "Offer
  expired", "Offer withdrawn"),
  under the offer's collapse key, so it replaces the offer on every device
  (``ends_offer``). Who else is told is the project's business: GTS tells
  its EIC users.

Texts are translatable. Build your own notifications with
:func:`make_notification`, which fills in the collapse key and the ids a
mobile app needs, and :func:`offer_notification` /
:func:`offer_ended_notification` for the two kinds a device replaces.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext, gettext_noop, ngettext

from django_assignment_timeout.notifiers.base import Notification
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, options_for

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from django.db import models

    from django_assignment_timeout.events import AssignmentEvent

__all__ = [
    "MAX_COLLAPSE_KEY",
    "OFFER_ENDINGS",
    "assignee_model",
    "collapse_key",
    "default_notifications",
    "event_assignee",
    "event_data",
    "make_notification",
    "offer_deadline",
    "offer_ended_notification",
    "offer_notification",
    "prime_assignee",
    "reminder_minutes",
]

#: FCM's apns-collapse-id is limited to 64 bytes.
MAX_COLLAPSE_KEY = 64

#: The event kinds that end an offer, with the default (title, body) that
#: replaces the offer on the assignee's devices. A new way for an offer to end
#: is one more entry here (untranslated; translated when sent).
OFFER_ENDINGS: dict[str, tuple[str, str]] = {
    "accepted": (
        gettext_noop("Offer accepted"),
        gettext_noop("You accepted %(assignment)s."),
    ),
    "rejected": (
        gettext_noop("Offer declined"),
        gettext_noop("You declined %(assignment)s."),
    ),
    "expired": (
        gettext_noop("Offer expired"),
        gettext_noop("The offer of %(assignment)s has expired."),
    ),
    "withdrawn": (
        gettext_noop("Offer withdrawn"),
        gettext_noop("The offer of %(assignment)s was withdrawn."),
    ),
    "taken": (
        gettext_noop("Offer taken"),
        gettext_noop("Someone else accepted %(assignment)s first."),
    ),
}

#: The kinds announced only while their attempt is still the open offer.
_WHILE_OPEN = ("offered", "reminded", "extended")

# Set by the relay on each event it delivers: the assignee loaded in bulk.
_ASSIGNEE_CACHE = "_assignment_timeout_assignee"
_MISSING = object()


def collapse_key(assignment: models.Model, attempt: int) -> str:
    """The collapse key of one offer: the same for every message about it."""
    key = f"{assignment._meta.label_lower}:{assignment.pk}:{attempt}"
    if len(key.encode()) > MAX_COLLAPSE_KEY:
        key = hashlib.sha256(key.encode()).hexdigest()[:MAX_COLLAPSE_KEY]
    return key


def event_data(assignment: models.Model, event: AssignmentEvent) -> dict[str, str]:
    """The ids a mobile app needs to open the right screen, as strings."""
    return {
        "assignment_type": assignment._meta.label_lower,
        "assignment_id": str(assignment.pk),
        "attempt": str(event.attempt),
        "event": str(event.kind),
        "event_id": str(event.pk),
    }


def make_notification(
    assignment: models.Model,
    event: AssignmentEvent,
    recipients: Iterable[Any],
    title: str,
    body: str,
    data: dict[str, str] | None = None,
    *,
    expires_at: datetime | None = None,
    ends_offer: bool = False,
) -> Notification:
    """A notification about ``event`` with its collapse key and id payload.

    ``data`` is merged over :func:`event_data`. ``expires_at`` and
    ``ends_offer`` are passed on (see :class:`~.notifiers.base.Notification`).
    """
    return Notification(
        recipients=tuple(recipients),
        title=title,
        body=body,
        data={**event_data(assignment, event), **(data or {})},
        collapse_key=collapse_key(assignment, event.attempt),
        expires_at=expires_at,
        ends_offer=ends_offer,
    )


def offer_notification(
    assignment: models.Model,
    event: AssignmentEvent,
    recipients: Iterable[Any],
    title: str,
    body: str,
    data: dict[str, str] | None = None,
) -> Notification:
    """The push of an ``offered`` event: it lives until :func:`offer_deadline`."""
    return make_notification(
        assignment,
        event,
        recipients,
        title,
        body,
        data,
        expires_at=offer_deadline(assignment, event),
    )


def offer_deadline(assignment: models.Model, event: AssignmentEvent) -> datetime | None:
    """When the offer ``event`` is about ends.

    The row's deadline while the row still holds that offer (it is the one
    an answer is checked against), otherwise the one the event recorded.
    """
    if getattr(assignment, ATTEMPT, None) == event.attempt:
        deadline: datetime | None = getattr(assignment, EXPIRES_AT, None)
        if deadline is not None:
            return deadline
    return event.deadline


def offer_ended_notification(
    assignment: models.Model,
    event: AssignmentEvent,
    recipients: Iterable[Any],
    title: str | None = None,
    body: str | None = None,
    data: dict[str, str] | None = None,
) -> Notification:
    """The message that replaces an offer's push once ``event`` ended the offer.

    Without ``title`` and ``body``, the texts of :data:`OFFER_ENDINGS` for
    ``event.kind``. Raises ``KeyError`` for a kind that does not end an offer.
    """
    default_title, default_body = OFFER_ENDINGS[event.kind]
    return make_notification(
        assignment,
        event,
        recipients,
        gettext(default_title) if title is None else title,
        gettext(default_body) % {"assignment": assignment} if body is None else body,
        data,
        ends_offer=True,
    )


def prime_assignee(event: AssignmentEvent, assignee: Any) -> None:
    """Give ``event`` its assignee, loaded in bulk, for :func:`event_assignee`."""
    setattr(event, _ASSIGNEE_CACHE, assignee)


def event_assignee(assignment: models.Model, event: AssignmentEvent) -> Any:
    """The assignee the event is about (loaded in bulk by the relay), or ``None``."""
    cached = getattr(event, _ASSIGNEE_CACHE, _MISSING)
    if cached is not _MISSING:
        return cached
    if event.assignee_pk is None:
        return None
    model = assignee_model(type(assignment))
    return model._base_manager.filter(pk=event.assignee_pk).first()


def assignee_model(model: type[models.Model]) -> type[models.Model]:
    """The model the assignee foreign key of ``model`` points at."""
    field = model._meta.get_field(options_for(model).assignee_field)
    return field.related_model  # type: ignore[return-value]


def reminder_minutes(event: AssignmentEvent) -> int:
    """The whole minutes (at least 1) the offer had left when ``event`` was written.

    ``deadline - created_at`` of a ``reminded`` (or ``extended``) event,
    rounded up: both come from the database clock, and the time left only
    shrinks, so "less than N minutes" stays true however late the message
    goes out.
    """
    if event.deadline is None or event.created_at is None:
        return 1
    seconds = (event.deadline - event.created_at).total_seconds()
    return max(math.ceil(seconds / 60), 1)


def _is_open_offer(assignment: Any, event: AssignmentEvent) -> bool:
    """Whether ``event``'s attempt is still the assignment's open offer."""
    opts = options_for(type(assignment))
    return bool(
        getattr(assignment, opts.status_attname) == opts.offered
        and assignment.assignment_attempt == event.attempt
    )


def default_notifications(
    assignment: Any, event: AssignmentEvent
) -> list[Notification]:
    """The library's default: see this module's docstring."""
    assignee = event_assignee(assignment, event)
    if assignee is None:
        return []
    if event.kind in _WHILE_OPEN and not _is_open_offer(assignment, event):
        return []  # that offer has ended: announcing it would mislead
    if event.kind == "extended":
        minutes = reminder_minutes(event)
        return [
            offer_notification(
                assignment,
                event,
                [assignee],
                gettext("Offer extended"),
                ngettext(
                    "%(minutes)s more minute to accept %(assignment)s.",
                    "%(minutes)s more minutes to accept %(assignment)s.",
                    minutes,
                )
                % {"minutes": minutes, "assignment": assignment},
            )
        ]
    if event.kind == "reminded":
        minutes = reminder_minutes(event)
        return [
            offer_notification(
                assignment,
                event,
                [assignee],
                gettext("Offer ends soon"),
                ngettext(
                    "Less than %(minutes)s minute left to accept %(assignment)s.",
                    "Less than %(minutes)s minutes left to accept %(assignment)s.",
                    minutes,
                )
                % {"minutes": minutes, "assignment": assignment},
            )
        ]
    if event.kind == "offered":
        return [
            offer_notification(
                assignment,
                event,
                [assignee],
                gettext("New assignment"),
                gettext(
                    "You have been offered %(assignment)s. Please accept or reject it."
                )
                % {"assignment": assignment},
            )
        ]
    if event.kind in OFFER_ENDINGS:
        return [offer_ended_notification(assignment, event, [assignee])]
    return []
