"""The event model: the audit trail of every offer and the notification outbox.

Each transition writes one :class:`AssignmentEvent` in the same transaction
as the change it records. (assignment, attempt, kind) is unique: the
backstop of exactly-once expiry. Re-exported by :mod:`.models`, where
migrations and users' imports find it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Case, DurationField, ExpressionWrapper, F, Q, When
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.clock import DatabaseNow

__all__ = [
    "AssignmentEvent",
    "AssignmentEventQuerySet",
    "DeliveryState",
    "EventKind",
    "lateness",
]


class EventKind(models.TextChoices):
    """What happened to an offer."""

    OFFERED = "offered", _("offered")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    EXPIRED = "expired", _("expired")
    #: The dispatcher ended the offer before its deadline.
    WITHDRAWN = "withdrawn", _("withdrawn")
    #: The dispatcher moved the open offer's deadline (one event per extension,
    #: numbered by ``sequence``).
    EXTENDED = "extended", _("extended")
    #: Another candidate of the same broadcast round accepted first: this
    #: candidate's offer ended (one event per candidate, numbered by
    #: ``sequence`` as their ``offered`` event).
    TAKEN = "taken", _("taken by another")
    #: The assignee was reminded that the open offer ends soon.
    REMINDED = "reminded", _("reminded")
    #: A dispatch chain ran out of candidates, attempts or time; the
    #: assignment is pending and the dispatcher has to act.
    EXHAUSTED = "exhausted", _("exhausted")


class DeliveryState(models.TextChoices):
    """Where an event is in the notification relay."""

    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    DEAD = "dead", _("dead")


def lateness() -> Case:
    """``created_at - deadline`` of an ``expired`` event, else NULL: a duration.

    Both columns come from the database clock, so the difference is exact
    whatever the application servers' clocks say; Django renders the
    subtraction for each backend (an interval on PostgreSQL, microseconds on
    SQLite and MariaDB, read back as a ``timedelta``).
    """
    return Case(
        When(
            kind=EventKind.EXPIRED,
            deadline__isnull=False,
            then=ExpressionWrapper(
                F("created_at") - F("deadline"), output_field=DurationField()
            ),
        ),
        default=None,
        output_field=DurationField(),
    )


class AssignmentEventQuerySet(models.QuerySet["AssignmentEvent"]):
    """Queries over events: an assignment's history, the relay's backlog."""

    def for_assignment(self, assignment: models.Model) -> AssignmentEventQuerySet:
        """Every event of one assignment, oldest first (one query)."""
        content_type = ContentType.objects.get_for_model(type(assignment))
        return self.filter(
            content_type=content_type, object_pk=str(assignment.pk)
        ).order_by("id")

    def undelivered(self) -> AssignmentEventQuerySet:
        """Events the relay still has to deliver."""
        return self.filter(delivery_state=DeliveryState.PENDING)

    def dead(self) -> AssignmentEventQuerySet:
        """Events the relay gave up on after its last try.

        The NULL conditions are implied by the state (a dead event has no
        next try and was never delivered); they let the database read the
        ``assignment_event_dead`` partial index.
        """
        return self.filter(
            delivery_state=DeliveryState.DEAD,
            delivered_at__isnull=True,
            next_attempt_at__isnull=True,
        )

    def with_lateness(self) -> AssignmentEventQuerySet:
        """Annotate ``lateness``: how late each expiry was (a ``timedelta``).

        ``created_at - deadline``, both written by the database clock, for
        ``expired`` events; ``None`` for every other kind. Computed in the
        query (no stored column), so the admin can sort on it.
        """
        return self.annotate(lateness=lateness())

    def record(
        self,
        model: type[models.Model],
        pk: Any,
        attempt: int,
        kind: str,
        assignee_pk: Any,
        deadline: Any = None,
        reason: str = "",
        created_at: Any = None,
    ) -> AssignmentEvent:
        """Write the event of one transition, in the caller's transaction.

        Without ``created_at`` the column's database default (the statement's
        clock) applies; an answer passes the clock reading that decided it.
        """
        using = self.db
        stamp = {} if created_at is None else {"created_at": created_at}
        return self.create(
            **stamp,
            content_type=ContentType.objects.db_manager(using).get_for_model(model),
            object_pk=str(pk),
            attempt=attempt,
            kind=kind,
            assignee_pk=None if assignee_pk is None else str(assignee_pk),
            deadline=deadline,
            reason=reason,
        )


class AssignmentEvent(models.Model):
    """One transition of an offer (see :class:`EventKind`).

    Written in the same transaction as the change it records, it is both the
    audit trail and the notification outbox. (assignment, attempt, kind,
    sequence) is unique, and ``sequence`` is 0 for every kind but
    ``extended`` and the per-candidate events of a broadcast round: the
    backstop of exactly-once expiry.
    """

    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("assignment type"),
    )
    object_pk = models.CharField(_("assignment key"), max_length=64)
    assignment = GenericForeignKey("content_type", "object_pk")
    attempt = models.PositiveIntegerField(_("attempt"))
    kind = models.CharField(_("kind"), max_length=16, choices=EventKind)
    # NULL, not "": an event without an assignee; "" could be a real key.
    assignee_pk = models.CharField(  # noqa: DJ001
        _("assignee key"), max_length=64, null=True, blank=True
    )
    deadline = models.DateTimeField(_("offer deadline"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True, default="", db_default="")
    #: 0 for every kind that happens at most once per attempt; the ordinal of
    #: an ``extended`` event (an offer can be extended more than once), and
    #: the candidate's number in a broadcast round (``offered``, ``rejected``
    #: and ``taken`` events of one attempt, one per candidate).
    sequence = models.PositiveIntegerField(_("sequence"), default=0, db_default=0)
    created_at = models.DateTimeField(_("created at"), db_default=DatabaseNow())

    # Delivery state, owned by the relay (:mod:`.delivery`). next_attempt_at is set
    # exactly while the event waits for delivery, so the relay's index can be
    # conditioned on it (see DESIGN.md on generic plans and partial indexes).
    delivery_state = models.CharField(
        _("delivery state"),
        max_length=16,
        choices=DeliveryState,
        default=DeliveryState.PENDING,
        db_default=DeliveryState.PENDING,
    )
    delivery_attempts = models.PositiveIntegerField(
        _("delivery attempts"), default=0, db_default=0
    )
    next_attempt_at = models.DateTimeField(
        _("next delivery attempt"), null=True, blank=True, db_default=DatabaseNow()
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    last_error = models.TextField(
        _("last error"), blank=True, default="", db_default=""
    )

    objects = AssignmentEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("assignment event")
        verbose_name_plural = _("assignment events")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_pk", "attempt", "kind", "sequence"],
                name="assignment_event_once_per_step",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="assignment_event_due_delivery",
            ),
            # Dead letters (never delivered, no next try): only those rows, so
            # counting them reads a tiny index instead of the whole audit
            # trail. IS NULL conditions, not delivery_state = 'dead': a
            # generic plan with bound parameters can still use it.
            # Its columns are the condition's, not the id: MySQL and MariaDB
            # build no partial index, so there it is a whole-table index, and
            # one on id alone made InnoDB take point lookups by id through it
            # (secondary record, then the row), which deadlocked against a
            # delete taking the row first (seen in CI).
            models.Index(
                fields=["delivered_at", "next_attempt_at"],
                condition=Q(delivered_at__isnull=True, next_attempt_at__isnull=True),
                name="assignment_event_dead",
            ),
            # Retention looks for events older than a cutoff: without this
            # every periodic prune reads the whole table even when nothing is
            # old (measured: 164 ms at 1M rows, 0.06 ms with it). Not partial:
            # created_at is never NULL.
            models.Index(fields=["created_at"], name="assignment_event_created"),
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_pk} #{self.attempt} {self.kind}"
