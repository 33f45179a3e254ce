"""Signals, sent after the transaction that made the change commits.

The sender is always the concrete model class. Handlers must accept
``**kwargs``. A failing handler is logged and does not stop the others.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.dispatch import Signal

__all__ = [
    "ExpiredOffer",
    "assignment_accepted",
    "assignment_exhausted",
    "assignment_expired",
    "assignment_extended",
    "assignment_offered",
    "assignment_rejected",
    "assignment_withdrawn",
    "fcm_token_invalid",
    "notifications_sent",
]


class ExpiredOffer(NamedTuple):
    """One offer ended by expiry: what ``assignment_expired`` lists."""

    pk: Any
    attempt: int
    assignee_pk: Any
    deadline: Any


#: An offer was made.
#: Arguments: ``sender`` (model class), ``pk``, ``attempt`` (int),
#: ``assignee_pk``, ``deadline`` (aware datetime, database clock),
#: ``event`` (the :class:`~django_assignment_timeout.models.AssignmentEvent`).
assignment_offered = Signal()

#: An offer was accepted before its deadline.
#: Arguments: ``sender``, ``pk``, ``attempt``, ``assignee_pk``, ``event``.
assignment_accepted = Signal()

#: An offer was turned down; the assignment is pending again.
#: Arguments: ``sender``, ``pk``, ``attempt``, ``assignee_pk``, ``reason`` (str),
#: ``event``.
assignment_rejected = Signal()

#: Offers expired. Bulk-friendly: sent once per committed batch of a sweep (and
#: once for a single expiry), never with model instances.
#: Arguments: ``sender``, ``expired`` (list of :class:`ExpiredOffer`).
assignment_expired = Signal()

#: The dispatcher withdrew an open offer before its deadline; the assignment
#: is pending again. Arguments: ``sender``, ``pk``, ``attempt``,
#: ``assignee_pk`` (whom it was offered to), ``reason`` (str), ``event`` (the
#: ``withdrawn`` event).
assignment_withdrawn = Signal()

#: The dispatcher gave an open offer more time. Arguments: ``sender``, ``pk``,
#: ``attempt``, ``assignee_pk``, ``deadline`` (the new one, aware, database
#: clock), ``event`` (the ``extended`` event; its ``sequence`` counts the
#: extensions of that offer from 1).
assignment_extended = Signal()

#: A dispatch chain ended without an accept: no candidate, attempt or time
#: was left, and the assignment is pending. Sent after the step's commit by
#: the relay that took it. Arguments: ``sender``, ``pk``, ``attempt`` (the
#: chain's last offer), ``reason`` (a
#: :class:`~django_assignment_timeout.dispatch_chain.ChainEnd` value),
#: ``event`` (the ``exhausted`` event).
assignment_exhausted = Signal()

#: FCM said a device token is no longer valid (UNREGISTERED, SENDER_ID_MISMATCH,
#: or INVALID_ARGUMENT about the token): deactivate it. Sent by the relay,
#: outside any transaction. Arguments: ``sender`` (the FCM notifier class),
#: ``token`` (str), ``recipient`` (what the token was resolved from),
#: ``error_code`` (str, FCM's code), ``notifier`` (the backend's alias).
fcm_token_invalid = Signal()

#: A notifier backend was called by the relay (outside any transaction), or
#: failed as a whole. Sent only when it has receivers (metrics count results).
#: Arguments: ``sender`` (the notifier class), ``notifier`` (the backend's
#: alias), ``results`` (list of
#: :class:`~django_assignment_timeout.notifiers.base.RecipientResult`, one per
#: notification and recipient; when the backend raised, each is a ``retry``
#: with the error ``code`` ``"EXCEPTION"``).
notifications_sent = Signal()
