"""The portable sweep (SQLite, MySQL 8, MariaDB 10.6+): three statements per batch.

MySQL and MariaDB have no ``UPDATE ... RETURNING`` and the ORM can not write
one, so a batch locks its due rows with ``SELECT ... FOR UPDATE SKIP
LOCKED``, inserts their events in one INSERT (copied from the locked rows by
the server where the keys are integers, else a multi-row VALUES list) and
resets them in one UPDATE, all in the caller's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections

from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import SweepConflict
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    integer_keys,
    options_for,
)
from django_assignment_timeout.signals import ExpiredOffer
from django_assignment_timeout.sweep.batch import due_batch, events_target, set_clause

if TYPE_CHECKING:
    from django.db.models import QuerySet

__all__ = ["expire_batch_portable"]


def expire_batch_portable(
    queryset: QuerySet[Any], batch_size: int, using: str
) -> list[ExpiredOffer]:
    """Expire one batch in three statements; see the module docstring."""
    # SQLite, MySQL 8, MariaDB 10.6+: lock the due rows (SELECT ... FOR UPDATE
    # SKIP LOCKED; SQLite ignores it and is safe because it has one writer),
    # insert their events in one INSERT, then reset them in one
    # UPDATE. Three queries per batch, whatever its size.
    model = queryset.model
    connection = connections[using]
    qn = connection.ops.quote_name
    rows = list(due_batch(queryset, batch_size, using))
    if not rows:
        return []
    meta = model._meta
    opts = options_for(model)
    content_type = ContentType.objects.db_manager(using).get_for_model(model)
    events_table, event_columns = events_target(connection)
    pks = [meta.pk.get_db_prep_value(row[0], connection) for row in rows]
    placeholders = ", ".join(["%s"] * len(pks))
    if integer_keys(model):
        # The events are copied from the locked rows by the server: no
        # parameters per row, no Python conversion of each deadline (that
        # and the quoting of four values a row were most of a batch's time
        # on MariaDB). An integer key's text is the same as str(pk).
        assignee_column = qn(meta.get_field(opts.assignee_field).column)
        insert_sql = (
            f"INSERT INTO {events_table} ({event_columns}) "
            f"SELECT {int(content_type.pk)}, CAST({qn(meta.pk.column)} AS CHAR), "
            f"{qn(meta.get_field(ATTEMPT).column)}, 'expired', "
            f"CAST({assignee_column} AS CHAR), {qn(meta.get_field(EXPIRES_AT).column)} "
            f"FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} IN ({placeholders})"
        )
        event_params: list[Any] = list(pks)
    else:
        insert_sql, event_params = _events_from_values(
            rows, content_type.pk, events_table, event_columns, connection
        )
    set_sql, set_params = set_clause(model, connection)
    status_field = meta.get_field(opts.status_field)
    offered = status_field.get_db_prep_save(opts.offered, connection)
    with connection.cursor() as cursor:
        cursor.execute(insert_sql, event_params)
        if cursor.rowcount != len(pks):
            raise SweepConflict(
                f"{len(pks)} rows of {meta.label} were locked but {cursor.rowcount} "
                "events were written; the batch was rolled back."
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
    return [ExpiredOffer(*row) for row in rows]


def _events_from_values(
    rows: list[Any], content_type_id: int, table: str, columns: str, connection: Any
) -> tuple[str, list[Any]]:
    """A multi-row INSERT of the rows' events, their values as parameters."""
    deadline_field = AssignmentEvent._meta.get_field("deadline")
    # The content type id is an integer from our own table and the kind a
    # constant: inlined, they leave four parameters per row.
    values_sql = ", ".join(
        [f"({int(content_type_id)}, %s, %s, 'expired', %s, %s)"] * len(rows)
    )
    params: list[Any] = []
    for pk, attempt, assignee_pk, deadline in rows:
        params += [
            str(pk),
            attempt,
            None if assignee_pk is None else str(assignee_pk),
            deadline_field.get_db_prep_save(deadline, connection),
        ]
    return f"INSERT INTO {table} ({columns}) VALUES {values_sql}", params
