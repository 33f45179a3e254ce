"""What an event becomes: the notifications the relay sends, and to whom.

This is content, not a notifier backend: the relay asks each assignment's
``assignment_notifications(event)`` what to send, then hands the result to
every configured backend.

A model that uses the mixin decides what each event becomes by overriding
:meth:`~django_assignment_timeout.models.ExpiringAssignmentMixin.assignment_notifications`.
The default (:func:`default_notifications`) is:

* ``offered``: the assignee gets "New assignment" while the offer is still the
  current one (an offer that has already ended is not announced);
* ``expired``: the assignee who did not answer gets "Offer expired";
* ``accepted`` and ``rejected``: nobody (the assignee did it; who else cares
  is the project's business: GTS tells its EIC users).

Texts are translatable. Build your own notifications with
:func:`make_notification`, which fills in the collapse key and the ids a
mobile app needs.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext

from django_assignment_timeout.notifiers.base import Notification
from django_assignment_timeout.options import options_for

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db import models

    from django_assignment_timeout.events import AssignmentEvent

__all__ = [
    "MAX_COLLAPSE_KEY",
    "assignee_model",
    "collapse_key",
    "default_notifications",
    "event_assignee",
    "event_data",
    "make_notification",
    "prime_assignee",
]

#: FCM's apns-collapse-id is limited to 64 bytes.
MAX_COLLAPSE_KEY = 64

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
) -> Notification:
    """A notification about ``event`` with its collapse key and id payload.

    ``data`` is merged over :func:`event_data`.
    """
    return Notification(
        recipients=tuple(recipients),
        title=title,
        body=body,
        data={**event_data(assignment, event), **(data or {})},
        collapse_key=collapse_key(assignment, event.attempt),
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


def default_notifications(
    assignment: Any, event: AssignmentEvent
) -> list[Notification]:
    """The library's default: see this module's docstring."""
    assignee = event_assignee(assignment, event)
    if assignee is None:
        return []
    if event.kind == "offered":
        opts = options_for(type(assignment))
        current = (
            getattr(assignment, opts.status_attname) == opts.offered
            and assignment.assignment_attempt == event.attempt
        )
        if not current:
            return []
        return [
            make_notification(
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
    if event.kind == "expired":
        return [
            make_notification(
                assignment,
                event,
                [assignee],
                gettext("Offer expired"),
                gettext("The offer of %(assignment)s has expired.")
                % {"assignment": assignment},
            )
        ]
    return []
