"""The abstract mixin, its QuerySet, and the library's event (outbox) model."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.db.models.signals import class_prepared
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout import lifecycle
from django_assignment_timeout.expressions import DatabaseNow
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    AssignmentOptions,
    field_or_none,
    options_for,
)

if TYPE_CHECKING:
    from datetime import datetime

    from django_assignment_timeout.notifiers.base import Notification
    from django_assignment_timeout.sweep import SweepResult


class EventKind(models.TextChoices):
    """What happened to an offer."""

    OFFERED = "offered", _("offered")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    EXPIRED = "expired", _("expired")


class DeliveryState(models.TextChoices):
    """Where an event is in the notification relay."""

    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    DEAD = "dead", _("dead")


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
        """Events the relay gave up on after its last try."""
        return self.filter(delivery_state=DeliveryState.DEAD)


class AssignmentEvent(models.Model):
    """One offered / accepted / rejected / expired transition.

    Written in the same transaction as the change it records, it is both the
    audit trail and the notification outbox. (assignment, attempt, kind) is
    unique: the backstop of exactly-once expiry.
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
    kind = models.CharField(_("kind"), max_length=16, choices=EventKind.choices)
    # NULL, not "": an event without an assignee; "" could be a real key.
    assignee_pk = models.CharField(  # noqa: DJ001
        _("assignee key"), max_length=64, null=True, blank=True
    )
    deadline = models.DateTimeField(_("offer deadline"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True, default="", db_default="")
    created_at = models.DateTimeField(_("created at"), db_default=DatabaseNow())

    # Delivery state, owned by the relay (delivery.py). next_attempt_at is set
    # exactly while the event waits for delivery, so the relay's index can be
    # conditioned on it (see DESIGN.md on generic plans and partial indexes).
    delivery_state = models.CharField(
        _("delivery state"),
        max_length=16,
        choices=DeliveryState.choices,
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
                fields=["content_type", "object_pk", "attempt", "kind"],
                name="assignment_event_once_per_attempt",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="assignment_event_due_delivery",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_pk} #{self.attempt} {self.kind}"


class AssignmentQuerySet(models.QuerySet[Any]):
    """Filters and lifecycle calls for a model that uses the mixin."""

    @property
    def _opts(self) -> AssignmentOptions:
        return options_for(self.model)

    def pending(self) -> AssignmentQuerySet:
        """Assignments waiting for an offer."""
        return self.filter(**{self._opts.status_field: self._opts.pending})

    def offered(self) -> AssignmentQuerySet:
        """Assignments with an open offer (due or not)."""
        return self.filter(**{self._opts.status_field: self._opts.offered})

    def due(self) -> AssignmentQuerySet:
        """Open offers whose deadline has passed on the database clock."""
        return self.offered().filter(**{f"{EXPIRES_AT}__lte": DatabaseNow()})

    def offered_to(self, assignee: Any) -> AssignmentQuerySet:
        """Open offers made to ``assignee`` that have not expired yet."""
        return self.offered().filter(
            **{
                self._opts.assignee_attname: self._opts.assignee_pk(assignee),
                f"{EXPIRES_AT}__gt": DatabaseNow(),
            }
        )

    def offer(
        self, pk: Any, assignee: Any, *, timeout: Any = None, **values: Any
    ) -> AssignmentEvent:
        """Offer assignment ``pk`` to ``assignee``; see :func:`.lifecycle.offer`."""
        return lifecycle.offer(
            self.model, pk, assignee, timeout=timeout, using=self.db, **values
        )

    def accept(
        self, pk: Any, assignee: Any, *, attempt: int | None = None
    ) -> AssignmentEvent:
        """Accept the open offer of ``pk``; see :func:`.lifecycle.accept`."""
        return lifecycle.accept(
            self.model, pk, assignee, attempt=attempt, using=self.db
        )

    def reject(
        self, pk: Any, assignee: Any, *, reason: str = "", attempt: int | None = None
    ) -> AssignmentEvent:
        """Reject the open offer of ``pk``; see :func:`.lifecycle.reject`."""
        return lifecycle.reject(
            self.model, pk, assignee, reason=reason, attempt=attempt, using=self.db
        )

    def expire(
        self, pk: Any, *, attempt: int | None = None, force: bool = False
    ) -> AssignmentEvent:
        """Expire the offer of ``pk``; see :func:`.lifecycle.expire`."""
        return lifecycle.expire(
            self.model, pk, attempt=attempt, force=force, using=self.db
        )

    def expire_due(
        self, *, batch_size: int | None = None, max_batches: int | None = None
    ) -> SweepResult:
        """Expire every due offer in this queryset, in bounded batches."""
        from django_assignment_timeout.sweep import sweep_queryset

        return sweep_queryset(self, batch_size=batch_size, max_batches=max_batches)


AssignmentManager = models.Manager.from_queryset(AssignmentQuerySet)


class ExpiringAssignmentMixin(models.Model):
    """Abstract mixin for a model whose rows are offered to one person at a time.

    Declare the model's own names in a nested ``AssignmentMeta``::

        class AssignmentMeta:
            status_field = "status"
            pending, offered, accepted = "PENDING", "ASSIGNING", "ASSIGNED"
            assignee_field = "target_driver"
            clear_fields = ["assignment_mode"]
            timeout = "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS"

    The mixin adds the offer's start, its stored deadline and an attempt
    counter, a check constraint (a deadline is set if and only if the row is
    offered) and a partial index on the deadline for the sweep.
    """

    assignment_started_at = models.DateTimeField(
        _("offer started at"), null=True, blank=True, editable=False
    )
    assignment_expires_at = models.DateTimeField(
        _("offer deadline"), null=True, blank=True, editable=False
    )
    assignment_attempt = models.PositiveIntegerField(
        _("offer attempt"), default=0, db_default=0, editable=False
    )

    objects: ClassVar[Any] = AssignmentManager()

    class Meta:
        abstract = True

    # Instance API: each call is one conditional UPDATE, then refreshes the
    # fields the transition changed on this instance.

    def _refresh_assignment(self) -> None:
        opts = options_for(type(self))
        names = {
            opts.status_field,
            opts.assignee_field,
            STARTED_AT,
            EXPIRES_AT,
            ATTEMPT,
        }
        names.update(opts.clear_fields)
        self.refresh_from_db(fields=sorted(names))

    def offer(
        self, assignee: Any, *, timeout: Any = None, **values: Any
    ) -> AssignmentEvent:
        """Offer this assignment to ``assignee``. Returns the ``offered`` event."""
        event = lifecycle.offer(
            type(self),
            self.pk,
            assignee,
            timeout=timeout,
            using=self._state.db,
            **values,
        )
        self._refresh_assignment()
        return event

    def accept(self, assignee: Any, *, attempt: int | None = None) -> AssignmentEvent:
        """Accept the open offer as ``assignee``. Returns the ``accepted`` event."""
        try:
            return lifecycle.accept(
                type(self), self.pk, assignee, attempt=attempt, using=self._state.db
            )
        finally:
            self._refresh_assignment()

    def reject(
        self, assignee: Any, *, reason: str = "", attempt: int | None = None
    ) -> AssignmentEvent:
        """Reject the open offer as ``assignee``. Returns the ``rejected`` event."""
        try:
            return lifecycle.reject(
                type(self),
                self.pk,
                assignee,
                reason=reason,
                attempt=attempt,
                using=self._state.db,
            )
        finally:
            self._refresh_assignment()

    def expire(
        self, *, attempt: int | None = None, force: bool = False
    ) -> AssignmentEvent:
        """Expire the open offer (``force`` ends it before its deadline)."""
        try:
            return lifecycle.expire(
                type(self), self.pk, attempt=attempt, force=force, using=self._state.db
            )
        finally:
            self._refresh_assignment()

    @classmethod
    def check(cls, **kwargs: Any) -> list[Any]:
        """Django's model checks plus the ``AssignmentMeta`` checks (E001-E006)."""
        from django_assignment_timeout.checks import check_model

        return [*super().check(**kwargs), *check_model(cls)]

    def assignment_events(self) -> AssignmentEventQuerySet:
        """This assignment's history of offers, oldest first."""
        return AssignmentEvent.objects.for_assignment(self)

    def assignment_notifications(self, event: AssignmentEvent) -> list[Notification]:
        """What to send, to whom, when the relay delivers ``event``. Override it.

        Return a list of :class:`~django_assignment_timeout.notifiers.base.Notification`
        (build them with :func:`~django_assignment_timeout.notifiers.content.make_notification`).
        The default tells the assignee about an offer and about its expiry; see
        :func:`~django_assignment_timeout.notifiers.content.default_notifications`.
        """
        from django_assignment_timeout.notifiers.content import default_notifications

        return default_notifications(self, event)

    @property
    def assignment_is_offered(self) -> bool:
        """Whether the row, as loaded, holds an open offer."""
        opts = options_for(type(self))
        return getattr(self, opts.status_attname) == opts.offered  # type: ignore[no-any-return]

    @property
    def assignment_deadline(self) -> datetime | None:
        """The stored deadline of the open offer, as loaded."""
        return self.assignment_expires_at


def assignment_models() -> list[type[ExpiringAssignmentMixin]]:
    """Every installed concrete model that uses the mixin."""
    from django.apps import apps

    return [
        model
        for model in apps.get_models()
        if issubclass(model, ExpiringAssignmentMixin) and not model._meta.proxy
    ]


def _short_name(table: str, suffix: str) -> str:
    # Index and constraint names are limited to 30 characters (Oracle, and
    # Django's models.E034), and must be unique per database.
    digest = hashlib.sha256(f"{table}:{suffix}".encode()).hexdigest()[:6]
    return f"{table[:17]}_{digest}_{suffix}"


def _contribute_constraints(sender: type[models.Model], **kwargs: Any) -> None:
    """Add the deadline check constraint and partial index to each adopting model.

    Historical models built by migrations are not subclasses of the mixin
    (abstract bases are flattened away), so they are left as the migration
    file describes them.
    """
    if not issubclass(sender, ExpiringAssignmentMixin):
        return
    meta = sender._meta
    if meta.abstract or meta.proxy:
        return
    opts = AssignmentOptions.from_model(sender)
    status = field_or_none(sender, opts.status_field)
    if status is None:
        return  # reported by check assignment_timeout.E001
    offered = Q(**{opts.status_field: opts.offered})
    check = models.CheckConstraint(
        condition=(offered & Q(**{f"{EXPIRES_AT}__isnull": False}))
        | (~offered & Q(**{f"{EXPIRES_AT}__isnull": True})),
        name=_short_name(meta.db_table, "dl_ck"),
        violation_error_message=_(
            "An offer deadline is set if and only if the row is offered."
        ),
    )
    # Conditioned on the deadline, not on the status value: with server-side
    # bound parameters PostgreSQL's generic plan can not prove a
    # status-conditioned partial index applies and scans the table.
    index = models.Index(
        fields=[EXPIRES_AT],
        condition=Q(**{f"{EXPIRES_AT}__isnull": False}),
        name=_short_name(meta.db_table, "dl_ix"),
    )
    # New lists: the inherited ones may be shared with the abstract parent.
    meta.constraints = [*meta.constraints, check]
    meta.indexes = [*meta.indexes, index]
    # ModelState.from_model only reads options named in original_attrs.
    meta.original_attrs["constraints"] = meta.constraints
    meta.original_attrs["indexes"] = meta.indexes


class_prepared.connect(
    _contribute_constraints, dispatch_uid="assignment_timeout_constraints"
)
