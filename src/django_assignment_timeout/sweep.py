"""The sweep: expire every due offer in bounded batches, exactly once.

Each batch is one transaction that locks its due rows (SKIP LOCKED, so
concurrent sweepers split the work instead of queueing), moves them back to
pending and writes their ``expired`` events. On PostgreSQL a batch is a single
statement; elsewhere it is three, whatever the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction

from django_assignment_timeout import signals
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.dispatch import schedule_delivery, send_signal
from django_assignment_timeout.exceptions import AssignmentError
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    options_for,
    require_positive_ints,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from django.db import models
    from django.db.models import Field, QuerySet

#: Rows per batch on the portable path: four parameters a row must stay under
#: SQLite's 32,766 and MySQL's 65,535 bound parameters per statement.
PORTABLE_MAX_BATCH = 5000


class SweepConflict(AssignmentError):
    """A locked batch did not update as locked; the batch was rolled back."""


@dataclass
class SweepResult:
    """What one sweep run did."""

    #: Offers expired, all models together.
    expired_count: int = 0
    #: Offers expired per model label (``"logistics.StockRequest"``).
    by_model: dict[str, int] = field(default_factory=dict)
    #: Batches (transactions) run.
    batches: int = 0
    #: True when the run stopped at its batch limit with offers still due.
    has_more: bool = False
    #: Batches that expired at least one offer (what ``max_batches`` limits).
    working_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"expired_count": N}``, the shape a task returns."""
        return {"expired_count": self.expired_count}

    def merge(self, other: SweepResult) -> None:
        """Add another run's counts to this one."""
        self.expired_count += other.expired_count
        self.batches += other.batches
        self.working_batches += other.working_batches
        self.has_more = self.has_more or other.has_more
        for label, count in other.by_model.items():
            self.by_model[label] = self.by_model.get(label, 0) + count


def sweep(
    models: Iterable[type[models.Model]] | None = None,
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> SweepResult:
    """Expire due offers of ``models`` (default: every model using the mixin).

    Runs at most ``max_batches`` batches of at most ``batch_size`` rows in
    total, then triggers notification delivery once. A batch that finds
    nothing due does not count against ``max_batches``: otherwise a model
    with nothing to do could use up the budget and starve the next one.
    """
    from django_assignment_timeout.models import assignment_models

    batch_size, max_batches = _limits(batch_size, max_batches)
    result = SweepResult()
    for model in assignment_models() if models is None else models:
        remaining = max_batches - result.working_batches
        if remaining <= 0:
            result.has_more = (
                result.has_more or _due(model._base_manager.all()).exists()
            )
            continue
        result.merge(
            _sweep(model._base_manager.all(), batch_size, remaining, notify=False)
        )
    if result.expired_count:
        schedule_delivery()
    return result


def sweep_queryset(
    queryset: QuerySet[Any],
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> SweepResult:
    """Expire the due offers among ``queryset``'s rows, in bounded batches."""
    batch_size, max_batches = _limits(batch_size, max_batches)
    return _sweep(queryset, batch_size, max_batches, notify=True)


def count_due(models: Iterable[type[models.Model]] | None = None) -> dict[str, int]:
    """How many offers each model has past their deadline (for ``--dry-run``)."""
    from django_assignment_timeout.models import assignment_models

    return {
        model._meta.label: _due(model._base_manager.all()).count()
        for model in (assignment_models() if models is None else models)
    }


def expire_batch(
    queryset: QuerySet[Any], batch_size: int, *, after: datetime | None = None
) -> list[signals.ExpiredOffer]:
    """Expire at most ``batch_size`` due offers of ``queryset`` in one transaction.

    Offers are taken oldest deadline first; ``after`` skips those with an
    earlier deadline (a sweep passes the last deadline it expired, so each
    batch starts where the previous one ended instead of walking the index
    entries of every row already expired). Off PostgreSQL the batch is also
    capped at :data:`PORTABLE_MAX_BATCH`.
    """
    return _run_batch(queryset, batch_size, after=after, detail=True).expired


@dataclass
class _Batch:
    """One committed batch: how many expired, the latest deadline, the offers."""

    count: int
    last_deadline: datetime | None
    expired: list[signals.ExpiredOffer]


def _run_batch(
    queryset: QuerySet[Any], batch_size: int, *, after: datetime | None, detail: bool
) -> _Batch:
    """Expire one batch; with ``detail`` off, PostgreSQL ships no rows to Python.

    The rows are only needed for ``assignment_expired`` receivers; without
    any, the statement returns just the count and the last deadline.
    """
    using = _using(queryset)
    connection = connections[using]
    batch_size = _batch_size_for(using, batch_size)
    if after is not None:
        queryset = queryset.filter(**{f"{EXPIRES_AT}__gte": after})
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            batch = _expire_batch_postgresql(queryset, batch_size, using, detail)
        else:
            expired = _expire_batch_portable(queryset, batch_size, using)
            batch = _Batch(
                len(expired), max((e.deadline for e in expired), default=None), expired
            )
        if batch.expired:
            # Signals per committed batch; delivery is triggered once per run.
            transaction.on_commit(
                partial(_announce, queryset.model, batch.expired),
                using=using,
                robust=True,
            )
    return batch


# -- internals ---------------------------------------------------------------


def _using(queryset: QuerySet[Any]) -> str:
    # QuerySet._db is set only by .using(); the public .db would fall back to
    # the router's read database, and a sweep writes.
    explicit = getattr(queryset, "_db", None)
    return queryset.db if explicit else router.db_for_write(queryset.model)


def _batch_size_for(using: str, batch_size: int) -> int:
    if connections[using].vendor == "postgresql":
        return batch_size
    return min(batch_size, PORTABLE_MAX_BATCH)


def _limits(batch_size: int | None, max_batches: int | None) -> tuple[int, int]:
    batch_size = app_settings.BATCH_SIZE if batch_size is None else batch_size
    max_batches = app_settings.MAX_BATCHES if max_batches is None else max_batches
    require_positive_ints(batch_size=batch_size, max_batches=max_batches)
    return batch_size, max_batches


def _sweep(
    queryset: QuerySet[Any], batch_size: int, max_batches: int, *, notify: bool
) -> SweepResult:
    result = SweepResult()
    label = queryset.model._meta.label
    # A short batch means nothing more is due (or the rest is locked by
    # another sweeper); compare with the size the batch could really take.
    batch_size = _batch_size_for(_using(queryset), batch_size)
    after = None
    detail = signals.assignment_expired.has_listeners(queryset.model)
    while result.working_batches < max_batches:
        batch = _run_batch(queryset, batch_size, after=after, detail=detail)
        result.batches += 1
        if batch.count:
            # Every due row with an earlier deadline is expired, or held by
            # another sweeper (the next run takes it if it is still due).
            after = batch.last_deadline
            result.working_batches += 1
            result.expired_count += batch.count
            result.by_model[label] = result.by_model.get(label, 0) + batch.count
        if batch.count < batch_size:
            break
    else:
        result.has_more = _due(queryset).exists()
    if notify and result.expired_count:
        schedule_delivery()
    return result


def _due(queryset: QuerySet[Any]) -> QuerySet[Any]:
    from django_assignment_timeout.expressions import DatabaseNow

    opts = options_for(queryset.model)
    return queryset.filter(
        **{opts.status_field: opts.offered, f"{EXPIRES_AT}__lte": DatabaseNow()}
    )


def _due_batch(queryset: QuerySet[Any], batch_size: int, using: str) -> QuerySet[Any]:
    """The locked, ordered selection of at most ``batch_size`` due rows."""
    opts = options_for(queryset.model)
    connection = connections[using]
    lock: dict[str, Any] = {
        "skip_locked": connection.features.has_select_for_update_skip_locked
    }
    if connection.features.has_select_for_update_of:
        lock["of"] = ("self",)
    return (
        _due(queryset)
        .using(using)
        .order_by(EXPIRES_AT)
        .values_list("pk", ATTEMPT, opts.assignee_attname, EXPIRES_AT)
        .select_for_update(**lock)[:batch_size]
    )


def _set_clause(model: type[models.Model], connection: Any) -> tuple[str, list[Any]]:
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


def _events_table(connection: Any) -> tuple[str, str]:
    from django_assignment_timeout.models import AssignmentEvent

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


def _expire_batch_postgresql(
    queryset: QuerySet[Any], batch_size: int, using: str, detail: bool
) -> _Batch:
    # One statement: lock due rows (SKIP LOCKED), reset them, and insert their
    # events from the pre-update values, returning what the signal needs.
    model = queryset.model
    connection = connections[using]
    qn = connection.ops.quote_name
    due_sql, due_params = (
        _due_batch(queryset, batch_size, using).query.get_compiler(using).as_sql()
    )
    set_sql, set_params = _set_clause(model, connection)
    table = qn(model._meta.db_table)
    pk_column = qn(model._meta.pk.column)
    events_table, event_columns = _events_table(connection)
    content_type = ContentType.objects.db_manager(using).get_for_model(model)
    opts = options_for(model)
    status_field = model._meta.get_field(opts.status_field)
    offered = status_field.get_db_prep_save(opts.offered, connection)
    # The UPDATE finds its rows by primary key through "= ANY(ARRAY(...))",
    # not by joining the CTE: the planner sizes a join by the LIMIT and picks
    # a hash join that scans the whole table once per batch, a cost that grows
    # with the table (history included), not with the batch.
    reset = (
        f"WITH due (pk, attempt, assignee, deadline) AS ({due_sql}), "
        f"expired AS (UPDATE {table} SET {set_sql} "
        f"WHERE {pk_column} = ANY(ARRAY(SELECT pk FROM due)) "
        f"AND {qn(status_field.column)} = %s RETURNING {pk_column} AS pk)"
    )
    # Events are written from the locked rows' values before the update (the
    # UPDATE's RETURNING would give the cleared ones), for the rows it reset.
    # The content type id (an integer from our own table) and the kind are
    # inlined: as untyped parameters in a SELECT list, server-side binding
    # (psycopg's server_side_binding, PgBouncer) would type them as text.
    insert = (
        f"INSERT INTO {events_table} ({event_columns}) "
        f"SELECT {int(content_type.pk)}, due.pk::text, due.attempt, 'expired', "
        f"due.assignee::text, due.deadline FROM due JOIN expired ON expired.pk = due.pk "
        # A UTC timestamp (not timestamptz) is parsed by psycopg's C loader;
        # Django's timestamptz loader is Python, a fifth of a batch's time.
        f"RETURNING object_pk, attempt, assignee_pk, deadline AT TIME ZONE 'UTC' AS deadline"
    )
    if detail:
        sql = f"{reset} {insert}"
    else:
        sql = (
            f"{reset}, inserted AS ({insert}) "
            "SELECT count(*), max(deadline) FROM inserted"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*due_params, *set_params, offered])
        rows = cursor.fetchall()
    if not detail:
        ((count, last),) = rows
        return _Batch(count, last and last.replace(tzinfo=timezone.utc), [])
    # The event columns are text: give the keys back their Python types, as
    # the portable path and lifecycle.expire() do.
    pk_value = model._meta.pk.to_python
    assignee = model._meta.get_field(options_for(model).assignee_field)
    assignee_value = assignee.target_field.to_python
    expired = [
        signals.ExpiredOffer(
            pk_value(pk),
            attempt,
            None if who is None else assignee_value(who),
            deadline.replace(tzinfo=timezone.utc),
        )
        for pk, attempt, who, deadline in rows
    ]
    return _Batch(
        len(expired), max((e.deadline for e in expired), default=None), expired
    )


def _expire_batch_portable(
    queryset: QuerySet[Any], batch_size: int, using: str
) -> list[signals.ExpiredOffer]:
    # SQLite, MySQL 8, MariaDB 10.6+: lock the due rows (SELECT ... FOR UPDATE
    # SKIP LOCKED; SQLite ignores it and is safe because it has one writer),
    # insert their events in one multi-row INSERT, then reset them in one
    # UPDATE. Three queries per batch, whatever its size.
    from django_assignment_timeout.models import AssignmentEvent

    model = queryset.model
    connection = connections[using]
    qn = connection.ops.quote_name
    rows = list(_due_batch(queryset, batch_size, using))
    if not rows:
        return []
    meta = model._meta
    opts = options_for(model)
    content_type = ContentType.objects.db_manager(using).get_for_model(model)
    deadline_field = AssignmentEvent._meta.get_field("deadline")
    events_table, event_columns = _events_table(connection)
    # The content type id is an integer from our own table and the kind a
    # constant: inlined, they leave four parameters per row.
    values_sql = ", ".join(
        [f"({int(content_type.pk)}, %s, %s, 'expired', %s, %s)"] * len(rows)
    )
    event_params: list[Any] = []
    for pk, attempt, assignee_pk, deadline in rows:
        event_params += [
            str(pk),
            attempt,
            None if assignee_pk is None else str(assignee_pk),
            deadline_field.get_db_prep_save(deadline, connection),
        ]
    pks = [meta.pk.get_db_prep_value(row[0], connection) for row in rows]
    set_sql, set_params = _set_clause(model, connection)
    status_field = meta.get_field(opts.status_field)
    offered = status_field.get_db_prep_save(opts.offered, connection)
    placeholders = ", ".join(["%s"] * len(pks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events_table} ({event_columns}) VALUES {values_sql}",
            event_params,
        )
        cursor.execute(
            f"UPDATE {qn(meta.db_table)} SET {set_sql} "
            f"WHERE {qn(meta.pk.column)} IN ({placeholders}) "
            f"AND {qn(status_field.column)} = %s",
            [*set_params, *pks, offered],
        )
        if cursor.rowcount != len(pks):
            raise SweepConflict(
                f"{len(pks)} rows of {meta.label} were locked but {cursor.rowcount} "
                "were reset; the batch was rolled back."
            )
    return [signals.ExpiredOffer(*row) for row in rows]


def _announce(model: type[models.Model], expired: list[signals.ExpiredOffer]) -> None:
    send_signal(signals.assignment_expired, model, expired=expired)
