"""The abstract mixin a model adopts, and the library's event model.

:class:`ExpiringAssignmentMixin` is the top of the library's core: it calls
the lifecycle and the sweep through its QuerySet (:mod:`.queryset`). The
event model lives in :mod:`.events` and is re-exported here, where Django's
app registry, migrations and users' imports find it.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.db.models.signals import class_prepared
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout import chains, lifecycle
from django_assignment_timeout.checks.models import check_model
from django_assignment_timeout.dispatch_chain import (
    ChainEnd,
    ChainState,
    DispatchChain,
    DispatchTurn,
)
from django_assignment_timeout.events import (
    AssignmentEvent,
    AssignmentEventQuerySet,
    DeliveryState,
    EventKind,
)
from django_assignment_timeout.heartbeat import SweeperHeartbeat
from django_assignment_timeout.notifications import default_notifications
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    AssignmentOptions,
    assignment_models,
    field_or_none,
    options_for,
    register_adopter,
)
from django_assignment_timeout.queryset import AssignmentManager, AssignmentQuerySet
from django_assignment_timeout.recipient_delivery import (
    RecipientDelivery,
    RecipientState,
)

if TYPE_CHECKING:
    from datetime import datetime

    from django_assignment_timeout.notifiers.base import Notification

__all__ = [
    "AssignmentEvent",
    "AssignmentEventQuerySet",
    "AssignmentManager",
    "AssignmentQuerySet",
    "ChainEnd",
    "ChainState",
    "DeliveryState",
    "DispatchChain",
    "DispatchTurn",
    "EventKind",
    "ExpiringAssignmentMixin",
    "RecipientDelivery",
    "RecipientState",
    "SweeperHeartbeat",
    "assignment_models",
]


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
        # Deleted (or never saved): the transition's own refusal,
        # AssignmentNotFound or InvalidArgument, is the one to raise.
        with contextlib.suppress(self.DoesNotExist):
            self.refresh_from_db(fields=sorted(names))

    def offer(
        self, assignee: Any, *, timeout: Any = None, **values: Any
    ) -> AssignmentEvent:
        """Offer this assignment to ``assignee``. Returns the ``offered`` event."""
        try:
            return lifecycle.offer(
                type(self),
                self.pk,
                assignee,
                timeout=timeout,
                using=self._state.db,
                **values,
            )
        finally:
            self._refresh_assignment()

    def accept(
        self, assignee: Any, *, attempt: int | str | None = None
    ) -> AssignmentEvent:
        """Accept the open offer as ``assignee``. Returns the ``accepted`` event."""
        try:
            return lifecycle.accept(
                type(self), self.pk, assignee, attempt=attempt, using=self._state.db
            )
        finally:
            self._refresh_assignment()

    def reject(
        self, assignee: Any, *, reason: str = "", attempt: int | str | None = None
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
        self, *, attempt: int | str | None = None, force: bool = False
    ) -> AssignmentEvent:
        """Expire the open offer (``force`` ends it before its deadline)."""
        try:
            return lifecycle.expire(
                type(self), self.pk, attempt=attempt, force=force, using=self._state.db
            )
        finally:
            self._refresh_assignment()

    def withdraw(
        self, *, attempt: int | str | None = None, reason: str = ""
    ) -> AssignmentEvent:
        """Withdraw the open offer before its deadline. Returns the ``withdrawn`` event."""
        try:
            return lifecycle.withdraw(
                type(self),
                self.pk,
                attempt=attempt,
                reason=reason,
                using=self._state.db,
            )
        finally:
            self._refresh_assignment()

    def extend(self, *, by: Any, attempt: int | str | None = None) -> AssignmentEvent:
        """Give the open offer ``by`` more time. Returns the ``extended`` event."""
        try:
            return lifecycle.extend(
                type(self), self.pk, by=by, attempt=attempt, using=self._state.db
            )
        finally:
            self._refresh_assignment()

    def start_dispatch(self) -> AssignmentEvent:
        """Start the model's dispatch policy; returns the first ``offered`` event.

        See :func:`~django_assignment_timeout.chains.start_dispatch`.
        """
        try:
            return chains.start_dispatch(type(self), self.pk, using=self._state.db)
        finally:
            self._refresh_assignment()

    def stop_dispatch(self) -> bool:
        """End this assignment's running dispatch chain; whether one was running."""
        return chains.stop_dispatch(type(self), self.pk, using=self._state.db)

    def dispatch_chains(self) -> models.QuerySet[DispatchChain]:
        """This assignment's dispatch chains, oldest first."""
        content_type = ContentType.objects.db_manager(self._state.db).get_for_model(
            type(self)
        )
        return (
            DispatchChain.objects.using(self._state.db)
            .filter(content_type=content_type, object_pk=str(self.pk))
            .order_by("pk")
        )

    @classmethod
    def check(cls, **kwargs: Any) -> list[Any]:
        """Django's model checks plus the ``AssignmentMeta`` checks (E001-E007)."""
        return [*super().check(**kwargs), *check_model(cls)]

    def assignment_events(self) -> AssignmentEventQuerySet:
        """This assignment's history of offers, oldest first."""
        return AssignmentEvent.objects.for_assignment(self)

    def assignment_notifications(self, event: AssignmentEvent) -> list[Notification]:
        """What to send, to whom, when the relay delivers ``event``. Override it.

        Return a list of :class:`~django_assignment_timeout.notifiers.base.Notification`
        (build them with :func:`~django_assignment_timeout.notifications.make_notification`).
        The default tells the assignee about an offer and about its expiry; see
        :func:`~django_assignment_timeout.notifications.default_notifications`.
        """
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


def _short_name(table: str, suffix: str) -> str:
    # Index and constraint names are limited to 30 characters (Oracle, and
    # Django's models.E034), and must be unique per database.
    digest = hashlib.sha256(f"{table}:{suffix}".encode()).hexdigest()[:6]
    return f"{table[:17]}_{digest}_{suffix}"


def _contribute_constraints(sender: type[models.Model], **kwargs: Any) -> None:
    """Add the deadline check constraint and partial index to each adopting model.

    Historical models built by migrations are not subclasses of the mixin
    (abstract bases are flattened away), so they are left as the migration
    file describes them. Abstract models are never prepared, so never seen here.
    """
    if not issubclass(sender, ExpiringAssignmentMixin):
        return
    meta = sender._meta
    register_adopter(sender)
    if meta.proxy:
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
