"""What both sweep strategies share: the due selection and the SQL pieces.

A batch locks its due rows oldest deadline first (SKIP LOCKED where the
database has it), resets them to pending with the offer's fields cleared, and
writes one ``expired`` event per row. :mod:`.postgresql` does it in one
statement, :mod:`.portable` in three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.db import connections, router

from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, options_for

if TYPE_CHECKING:
    from datetime import datetime

    from django.db import models
    from django.db.models import Field, QuerySet

    from django_assignment_timeout.signals import ExpiredOffer

__all__ = [
    "PORTABLE_MAX_BATCH",
    "Batch",
    "batch_size_for",
    "due",
    "due_batch",
    "events_target",
    "set_clause",
    "using_for",
]

#: Rows per batch on the portable path: four parameters a row must stay under
#: SQLite's 32,766 and MySQL's 65,535 bound parameters per statement.
PORTABLE_MAX_BATCH = 5000


@dataclass
class Batch:
    """One committed batch: how many expired, the latest deadline, the offers."""

    count: int
    last_deadline: datetime | None
    expired: list[ExpiredOffer]


def using_for(queryset: QuerySet[Any]) -> str:
    """The database a sweep of ``queryset`` writes to."""
    # QuerySet._db is set only by .using(); the public .db would fall back to
    # the router's read database, and a sweep writes.
    explicit = getattr(queryset, "_db", None)
    return queryset.db if explicit else router.db_for_write(queryset.model)


def batch_size_for(using: str, batch_size: int) -> int:
    """``batch_size``, capped on the portable path by :data:`PORTABLE_MAX_BATCH`."""
    if connections[using].vendor == "postgresql":
        return batch_size
    return min(batch_size, PORTABLE_MAX_BATCH)


def due(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Open offers of ``queryset`` past their deadline on the database clock."""
    opts = options_for(queryset.model)
    return queryset.filter(
        **{opts.status_field: opts.offered, f"{EXPIRES_AT}__lte": DatabaseNow()}
    )


def due_batch(queryset: QuerySet[Any], batch_size: int, using: str) -> QuerySet[Any]:
    """The locked, ordered selection of at most ``batch_size`` due rows."""
    opts = options_for(queryset.model)
    connection = connections[using]
    lock: dict[str, Any] = {
        "skip_locked": connection.features.has_select_for_update_skip_locked
    }
    if connection.features.has_select_for_update_of:
        lock["of"] = ("self",)
    return (
        due(queryset)
        .using(using)
        .order_by(EXPIRES_AT)
        .values_list("pk", ATTEMPT, opts.assignee_attname, EXPIRES_AT)
        .select_for_update(**lock)[:batch_size]
    )


def set_clause(model: type[models.Model], connection: Any) -> tuple[str, list[Any]]:
    """``col = %s, ...`` that moves a row back to pending with its offer cleared."""
    opts = options_for(model)
    qn = connection.ops.quote_name
    values = {opts.status_attname: opts.pending, **opts.cleared_values()}
    parts, params = [], []
    for attname, value in values.items():
        field_ = next(f for f in model._meta.concrete_fields if f.attname == attname)
        parts.append(f"{qn(field_.column)} = %s")
        params.append(field_.get_db_prep_save(value, connection))
    return ", ".join(parts), params


def events_target(connection: Any) -> tuple[str, str]:
    """The events table and its six columns a batch inserts, quoted."""
    qn = connection.ops.quote_name
    meta = AssignmentEvent._meta
    columns = ", ".join(
        # All six are concrete fields (get_field may also return a relation).
        qn(cast("Field[Any, Any]", meta.get_field(name)).column)
        for name in (
            "content_type",
            "object_pk",
            "attempt",
            "kind",
            "assignee_pk",
            "deadline",
        )
    )
    return qn(meta.db_table), columns
