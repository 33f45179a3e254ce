"""The QuerySet and Manager of a model that uses the mixin.

Filters for the assignment's states on the database clock, and the
lifecycle and sweep called on a queryset (``StockRequest.objects.offer(...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from django_assignment_timeout import lifecycle
from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.options import EXPIRES_AT, AssignmentOptions, options_for
from django_assignment_timeout.sweep import SweepResult, sweep_queryset

if TYPE_CHECKING:
    from django_assignment_timeout.events import AssignmentEvent

__all__ = ["AssignmentManager", "AssignmentQuerySet"]


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
        self, pk: Any, assignee: Any, *, attempt: int | str | None = None
    ) -> AssignmentEvent:
        """Accept the open offer of ``pk``; see :func:`.lifecycle.accept`."""
        return lifecycle.accept(
            self.model, pk, assignee, attempt=attempt, using=self.db
        )

    def reject(
        self,
        pk: Any,
        assignee: Any,
        *,
        reason: str = "",
        attempt: int | str | None = None,
    ) -> AssignmentEvent:
        """Reject the open offer of ``pk``; see :func:`.lifecycle.reject`."""
        return lifecycle.reject(
            self.model, pk, assignee, reason=reason, attempt=attempt, using=self.db
        )

    def expire(
        self, pk: Any, *, attempt: int | str | None = None, force: bool = False
    ) -> AssignmentEvent:
        """Expire the offer of ``pk``; see :func:`.lifecycle.expire`."""
        return lifecycle.expire(
            self.model, pk, attempt=attempt, force=force, using=self.db
        )

    def withdraw(
        self, pk: Any, *, attempt: int | str | None = None, reason: str = ""
    ) -> AssignmentEvent:
        """Withdraw the open offer of ``pk``; see :func:`.lifecycle.withdraw`."""
        return lifecycle.withdraw(
            self.model, pk, attempt=attempt, reason=reason, using=self.db
        )

    def extend(
        self, pk: Any, *, by: Any, attempt: int | str | None = None
    ) -> AssignmentEvent:
        """Give the open offer of ``pk`` more time; see :func:`.lifecycle.extend`."""
        return lifecycle.extend(self.model, pk, by=by, attempt=attempt, using=self.db)

    def expire_due(
        self, *, batch_size: int | None = None, max_batches: int | None = None
    ) -> SweepResult:
        """Expire every due offer in this queryset, in bounded batches."""
        return sweep_queryset(self, batch_size=batch_size, max_batches=max_batches)


AssignmentManager = models.Manager.from_queryset(AssignmentQuerySet)
