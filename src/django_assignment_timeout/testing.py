"""Helpers for your own tests: due offers without sleeping, and the in-memory outbox.

Deadlines are computed and compared on the **database** clock, which
freezegun and time-machine do not move: :func:`make_due` moves the stored
deadline instead, on the database clock too. With the in-memory notifier
configured (:data:`LOCMEM_NOTIFIERS`), :func:`deliver` runs the relay and
returns what it sent. This module loads models: import it from tests, not
from a settings module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F
from django.db.models.functions import Least

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.notifiers.locmem import outbox
from django_assignment_timeout.options import EXPIRES_AT, STARTED_AT

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from django_assignment_timeout.notifiers.base import Notification

__all__ = ["LOCMEM_NOTIFIERS", "deliver", "make_due", "outbox"]

#: ``ASSIGNMENT_TIMEOUT_NOTIFIERS`` for tests: every notification goes to :data:`outbox`.
LOCMEM_NOTIFIERS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"}
}


def make_due(
    model_or_queryset: type[models.Model] | QuerySet[Any],
    *pks: Any,
    seconds_ago: float = 1.0,
) -> int:
    """Put the deadline of open offers ``seconds_ago`` in the past; return how many.

    Give a model (every open offer of it, or only those with ``pks``) or a
    queryset. The offer's start moves back too when it would be later than
    the new deadline, so "started before its deadline" still holds.
    """
    if isinstance(model_or_queryset, type):
        queryset = model_or_queryset._base_manager.all()
    else:
        queryset = model_or_queryset
    queryset = queryset.filter(**{f"{EXPIRES_AT}__isnull": False})
    if pks:
        queryset = queryset.filter(pk__in=pks)
    deadline = deadline_in(-seconds_ago)
    return queryset.update(
        **{EXPIRES_AT: deadline, STARTED_AT: Least(F(STARTED_AT), deadline)}
    )


def deliver() -> list[Notification]:
    """Run the relay once; the notifications it put in :data:`outbox`, oldest first."""
    already = len(outbox)
    deliver_pending()
    return outbox[already:]
