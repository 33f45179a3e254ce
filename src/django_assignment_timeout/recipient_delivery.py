"""Delivery state per (event, recipient, backend): who still owes a notification.

The relay writes a :class:`RecipientDelivery` only for a recipient that did
not get an event's notification through one backend (a temporary failure,
a permanent one, an unreachable recipient, or no answer). A clean first
delivery writes none. A retry then sends only to the recipients with a row in
``retry``, so those who got it the first time do not get it again; a
recipient given up on is a dead letter of its own (``dead``), listed and
re-queued one by one. Rows go with their event (``CASCADE``): retention
prunes them with it, never alone.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.events import AssignmentEvent

__all__ = [
    "KEY_LENGTH",
    "RecipientDelivery",
    "RecipientDeliveryQuerySet",
    "RecipientState",
    "stored_key",
]

#: Longest recipient key stored as written; a longer one is stored as its digest.
KEY_LENGTH = 255


class RecipientState(models.TextChoices):
    """Where one recipient of one event stands with one backend."""

    #: Failed for now: the event's next try sends to this recipient again.
    RETRY = "retry", _("retry")
    #: Got it on a later try.
    DELIVERED = "delivered", _("delivered")
    #: Given up on (a permanent failure, or out of tries): a dead letter.
    DEAD = "dead", _("dead")
    #: Can not be reached (no device, unregistered token): never tried again.
    INVALID = "invalid", _("unreachable")


def stored_key(key: str) -> str:
    """``key`` as stored: itself when short enough, else ``sha256:<hex>``.

    A digest, not a truncation: two long keys with a common start (webhook
    URLs) must stay two recipients.
    """
    if len(key) <= KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class RecipientDeliveryQuerySet(models.QuerySet["RecipientDelivery"]):
    """Queries over recipient deliveries."""

    def dead(self) -> RecipientDeliveryQuerySet:
        """Recipients the relay gave up on: the per-recipient dead letters."""
        return self.filter(state=RecipientState.DEAD)

    def owed(self) -> RecipientDeliveryQuerySet:
        """Recipients the event's next try sends to."""
        return self.filter(state=RecipientState.RETRY)


class RecipientDelivery(models.Model):
    """One recipient of one event, through one backend, that did not succeed at once."""

    event = models.ForeignKey(
        AssignmentEvent,
        on_delete=models.CASCADE,
        related_name="recipient_deliveries",
        verbose_name=_("event"),
    )
    #: :func:`.notifiers.base.recipient_key`, through :func:`stored_key`.
    recipient_key = models.CharField(_("recipient"), max_length=KEY_LENGTH)
    #: The notifier backend's alias in ``ASSIGNMENT_TIMEOUT_NOTIFIERS``.
    backend = models.CharField(_("backend"), max_length=64)
    state = models.CharField(_("state"), max_length=16, choices=RecipientState)
    #: Tries of the event that did not reach this recipient.
    failures = models.PositiveIntegerField(_("failed tries"), default=1)
    last_error = models.TextField(
        _("last error"), blank=True, default="", db_default=""
    )
    updated_at = models.DateTimeField(_("updated at"), db_default=DatabaseNow())

    objects = RecipientDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("recipient delivery")
        verbose_name_plural = _("recipient deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "recipient_key", "backend"],
                name="assignment_recipient_once",
            ),
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} → {self.recipient_key} via {self.backend}"
