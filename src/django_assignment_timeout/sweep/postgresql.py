"""The PostgreSQL sweep: one statement per batch.

``WITH due AS (SELECT ... FOR UPDATE SKIP LOCKED), expired AS (UPDATE ...
RETURNING) INSERT INTO events ... SELECT``: the locked selection, the reset
and the events in one round trip. When nobody listens to
``assignment_expired`` the statement returns only a count and the last
deadline, so no row reaches Python.
"""

from __future__ import annotations

from datetime import timezone
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections

from django_assignment_timeout.exceptions import SweepConflict
from django_assignment_timeout.options import options_for
from django_assignment_timeout.signals import ExpiredOffer
from django_assignment_timeout.sweep.batch import (
    Batch,
    due_batch,
    events_target,
    set_clause,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

__all__ = ["expire_batch_postgresql"]


def expire_batch_postgresql(
    queryset: QuerySet[Any], batch_size: int, using: str, detail: bool
) -> Batch:
    """Expire one batch in a single statement; see the module docstring."""
    # One statement: lock due rows (SKIP LOCKED), reset them, and insert their
    # events from the pre-update values, returning what the signal needs.
    model = queryset.model
    connection = connections[using]
    qn = connection.ops.quote_name
    due_sql, due_params = (
        due_batch(queryset, batch_size, using).query.get_compiler(using).as_sql()
    )
    set_sql, set_params = set_clause(model, connection)
    table = qn(model._meta.db_table)
    pk_column = qn(model._meta.pk.column)
    events_table, event_columns = events_target(connection)
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
    # UPDATE's RETURNING would give the cleared ones). They come from "due"
    # alone, not "due JOIN expired": the planner estimates both CTEs from
    # statistics taken before the offers were made (on a large table nearly
    # every row is history, so it expects one due row) and nests the join
    # loops, 10,000 x 10,000 comparisons for a 10,000-row batch (13.6 s of
    # it, measured). Each locked row still matches the selection (SKIP LOCKED
    # returns only rows it locked and re-checked), so the UPDATE resets them
    # all; the count of both is compared below, and a difference rolls back.
    # The content type id (an integer from our own table) and the kind are
    # inlined: as untyped parameters in a SELECT list, server-side binding
    # (psycopg's server_side_binding, PgBouncer) would type them as text.
    insert = (
        f"INSERT INTO {events_table} ({event_columns}) "
        f"SELECT {int(content_type.pk)}, due.pk::text, due.attempt, 'expired', "
        f"due.assignee::text, due.deadline FROM due "
        # A UTC timestamp (not timestamptz) is parsed by psycopg's C loader;
        # Django's timestamptz loader is Python, a fifth of a batch's time.
        f"RETURNING object_pk, attempt, assignee_pk, deadline AT TIME ZONE 'UTC' AS deadline"
    )
    reset_count = "(SELECT count(*) FROM expired)"
    if detail:
        sql = f"{reset}, inserted AS ({insert}) SELECT *, {reset_count} FROM inserted"
    else:
        sql = (
            f"{reset}, inserted AS ({insert}) "
            f"SELECT count(*), max(deadline), {reset_count} FROM inserted"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*due_params, *set_params, offered])
        rows = cursor.fetchall()
    if not detail:
        ((count, last, reset_rows),) = rows
        _require_all_reset(model, count, reset_rows)
        return Batch(count, last and last.replace(tzinfo=timezone.utc), [])
    _require_all_reset(model, len(rows), rows[0][-1] if rows else 0)
    # The event columns are text: give the keys back their Python types, as
    # the portable path and lifecycle.expire() do.
    pk_value = model._meta.pk.to_python
    assignee = model._meta.get_field(options_for(model).assignee_field)
    assignee_value = assignee.target_field.to_python
    expired = [
        ExpiredOffer(
            pk_value(pk),
            attempt,
            None if who is None else assignee_value(who),
            deadline.replace(tzinfo=timezone.utc),
        )
        for pk, attempt, who, deadline, _reset in rows
    ]
    return Batch(
        len(expired), max((e.deadline for e in expired), default=None), expired
    )


def _require_all_reset(model: type[Any], locked: int, reset: int) -> None:
    """Raise :class:`.SweepConflict` (rolling the batch back) unless all were reset."""
    if reset != locked:
        raise SweepConflict(
            f"{locked} rows of {model._meta.label} were locked but {reset} were "
            "reset; the batch was rolled back."
        )
