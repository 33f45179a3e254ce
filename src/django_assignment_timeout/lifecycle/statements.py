"""The SQL of the transitions, built once per model and database.

A transition is its conditional UPDATE and its event's INSERT, nothing else:
no read of the clock before it, no read of the row after it. Where the
database has ``UPDATE ... RETURNING`` (PostgreSQL, SQLite 3.35+) the UPDATE
returns what the event needs: the attempt, the deadline, and for an answer
the clock reading its WHERE clause compared the deadline with, so the event
is stamped with the instant that decided it. On PostgreSQL an expiry's UPDATE
also returns the assignee and deadline it clears, read in the same statement.

MySQL and MariaDB have no ``UPDATE ... RETURNING``. There an offer's INSERT
reads the attempt and deadline from the row its UPDATE just changed (``INSERT
... SELECT``), and an answer is decided by its INSERT: the event is written
only from a live offer, locking the row by primary key and stamped with the
same statement's clock, and the UPDATE then changes the row it holds. Where
the UPDATE can not return the values it clears (SQLite, MySQL), an expiry
reads them first, locking the row, as the sweep's portable path does.

The statements are text with ``%s`` placeholders; only the parameters are
prepared per call. Nothing here decides anything the WHERE clauses do not.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.db.models.sql import Query, UpdateQuery

from django_assignment_timeout.clock import DatabaseNow, deadline_in
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    options_for,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.db import models

__all__ = ["Statements", "offer_values_sql", "statements_for"]

#: Event columns every transition's INSERT writes, in this order.
EVENT_COLUMNS = (
    "content_type",
    "object_pk",
    "attempt",
    "kind",
    "assignee_pk",
    "deadline",
    "reason",
    "created_at",
)

Converter = tuple[Any, list["Callable[..., Any]"]]


def statements_for(model: type[models.Model], using: str) -> Statements:
    """The statements of ``model`` on database ``using``, built on first use."""
    # Kept on the model class itself (its own __dict__, not a parent's), so
    # they go with a model built in isolate_apps.
    cache: dict[str, Statements] | None = model.__dict__.get("_assignment_statements")
    if cache is None:
        cache = {}
        model._assignment_statements = cache  # type: ignore[attr-defined]
    statements = cache.get(using)
    if statements is None or statements.vendor != connections[using].vendor:
        statements = cache[using] = Statements(model, using)
    return statements


class Statements:
    """One model's transition SQL on one database, with its parameter makers."""

    def __init__(self, model: type[models.Model], using: str) -> None:
        connection = connections[using]
        features = connection.features
        qn = connection.ops.quote_name
        opts = options_for(model)
        meta = model._meta
        self.model = model
        self.vendor = connection.vendor
        self.mysql = connection.vendor == "mysql"
        #: UPDATE ... RETURNING: PostgreSQL, and SQLite from 3.35.
        self.update_returns = connection.vendor == "postgresql" or (
            connection.vendor == "sqlite" and features.can_return_columns_from_insert
        )
        self.insert_returns = features.can_return_columns_from_insert
        field = _fields(model)
        self.pk_field: Any = meta.pk
        self.status_field = field(opts.status_field)
        self.assignee_field = field(opts.assignee_field)
        self.clear_fields = [field(name) for name in opts.clear_fields]
        status = self.status_field.get_db_prep_save
        self.pending = status(opts.pending, connection)
        self.offered = status(opts.offered, connection)
        self.accepted = status(opts.accepted, connection)

        def column(f: Any) -> str:
            return str(qn(f.column))

        events = AssignmentEvent._meta
        event_field = _fields(AssignmentEvent)
        self.events_table = qn(events.db_table)
        self.event_pk = column(events.pk)
        self.event_columns = ", ".join(
            column(event_field(name)) for name in EVENT_COLUMNS
        )
        self.event_returned = ", ".join(column(f) for f in events.concrete_fields)
        self.event_converters = [
            _converters(connection, f, events.db_table) for f in events.concrete_fields
        ]

        compiler = Query(None).get_compiler(using=using)
        now, now_params = compiler.compile(DatabaseNow())
        if now_params:  # pragma: no cover - no backend Django ships has any
            raise RuntimeError(f"The database clock takes parameters: {now_params}")
        self._deadline_sql, self._deadline_params, self._seconds_at = _deadline(
            compiler, connection, deadline_in
        )
        # An extension adds to the stored deadline, not to now.
        self._later_sql, self._later_params, self._later_at = _deadline(
            Query(model).get_compiler(using=using), connection, _later
        )

        table = qn(meta.db_table)
        pk = column(meta.pk)
        st, ex, at = (column(field(n)) for n in (STARTED_AT, EXPIRES_AT, ATTEMPT))
        s, a = column(self.status_field), column(self.assignee_field)
        # MySQL: reach the row by primary key, never through the assignee
        # index first, so every transition and the sweep lock in one order
        # (the reverse order deadlocked accepts against sweeps on MariaDB).
        hint = " FORCE INDEX (PRIMARY)" if self.mysql else ""
        lock = " FOR UPDATE" if features.has_select_for_update else ""
        reset = ", ".join(
            [
                f"{s} = %s",
                f"{a} = NULL",
                f"{st} = NULL",
                f"{ex} = NULL",
                *(f"{column(f)} = %s" for f in self.clear_fields),
            ]
        )
        self.changes = {"accepted": f"{s} = %s, {ex} = NULL", "rejected": reset}

        related = self.assignee_field.related_model
        exists = (
            f"EXISTS (SELECT 1 FROM {qn(related._meta.db_table)} "
            f"WHERE {column(self.assignee_field.target_field)} = %s)"
        )
        # The offer: the caller's own values go between head and tail.
        self.offer_head = f"UPDATE {table} SET "
        # Keyed by pinned: only from that attempt (a dispatch step's fence).
        self.offer_tail: dict[bool, str] = {}
        for pinned in (False, True):
            after = f" AND {at} = %s" if pinned else ""
            self.offer_tail[pinned] = (
                f"{s} = %s, {a} = %s, {st} = {now}, {ex} = {self._deadline_sql}, "
                f"{at} = {at} + 1 WHERE {pk} = %s AND {s} = %s{after} AND {exists}"
            )
            if self.update_returns:
                self.offer_tail[pinned] += f" RETURNING {at}, {ex}"

        live = f"{pk} = %s AND {s} = %s AND {a} = %s AND {ex} > {now}"
        # The answer, keyed by (kind, pinned to an attempt).
        self.answer: dict[tuple[str, bool], str] = {}
        self.answer_update: dict[str, str] = {}
        for kind, changes in self.changes.items():
            for pinned in (False, True):
                where = live + (f" AND {at} = %s" if pinned else "")
                if self.update_returns:
                    sql = f"UPDATE {table} SET {changes} WHERE {where} RETURNING {at}, {now}"
                else:
                    sql = self._insert(
                        f"SELECT %s, %s, {at}, %s, %s, NULL, %s, {now} "
                        f"FROM {table}{hint} WHERE {where}{lock}"
                    )
                self.answer[kind, pinned] = sql
            self.answer_update[kind] = (
                f"UPDATE {table}{hint} SET {changes} "
                f"WHERE {pk} = %s AND {s} = %s AND {at} = %s"
            )

        # The expiry, keyed by (pinned to an attempt, forced).
        self.expire: dict[tuple[bool, bool], str] = {}
        self.expire_read: dict[bool, str] = {}
        for pinned in (False, True):
            offer = f"{pk} = %s AND {s} = %s" + (f" AND {at} = %s" if pinned else "")
            self.expire_read[pinned] = (
                f"SELECT {at}, {a}, {ex} FROM {table}{hint} WHERE {offer}{lock}"
            )
            for force in (False, True):
                due = "" if force else f" AND {table}.{ex} <= {now}"
                if connection.vendor == "postgresql":
                    # The subquery reads the row as it is before the UPDATE;
                    # the same attempt in both makes them the same offer.
                    self.expire[pinned, force] = (
                        f"UPDATE {table} SET {reset} FROM (SELECT {pk} AS pk, "
                        f"{at} AS attempt, {a} AS assignee, {ex} AS deadline "
                        f"FROM {table} WHERE {offer}) AS old "
                        f"WHERE {table}.{pk} = old.pk AND {table}.{s} = %s "
                        f"AND {table}.{at} = old.attempt{due} "
                        "RETURNING old.attempt, old.assignee, old.deadline"
                    )
                else:
                    self.expire[pinned, force] = (
                        f"UPDATE {table}{hint} SET {reset} WHERE {pk} = %s "
                        f"AND {s} = %s AND {at} = %s{due}"
                    )

        # The extension, keyed by pinned: only an offer not yet due moves.
        self.extend: dict[bool, str] = {}
        for pinned in (False, True):
            after = f" AND {at} = %s" if pinned else ""
            self.extend[pinned] = (
                f"UPDATE {table}{hint} SET {ex} = {self._later_sql} "
                f"WHERE {pk} = %s AND {s} = %s{after} AND {ex} > {now}"
            )
            if self.update_returns:
                self.extend[pinned] += f" RETURNING {at}, {a}, {ex}"
        # Off RETURNING: the row as the UPDATE left it, read under its lock.
        self.extend_read = f"SELECT {at}, {a}, {ex} FROM {table} WHERE {pk} = %s"
        ordinal = column(event_field("sequence"))
        self.next_sequence = (
            f"SELECT COALESCE(MAX({ordinal}), 0) + 1 FROM {self.events_table} "
            f"WHERE {column(event_field('content_type'))} = %s "
            f"AND {column(event_field('object_pk'))} = %s "
            f"AND {column(event_field('attempt'))} = %s "
            f"AND {column(event_field('kind'))} = %s"
            # InnoDB: a locking read sees the latest commit, not the snapshot
            # an earlier read in the caller's transaction fixed.
            + (" FOR UPDATE" if self.mysql else "")
        )

        values = ", ".join(["%s"] * (len(EVENT_COLUMNS) - 1))
        self.event_values = self._insert(f"VALUES ({values}, %s)")
        self.event_values_now = self._insert(f"VALUES ({values}, {now})")
        self.event_values_sequenced = self._insert(
            f"VALUES ({values}, {now}, %s)", extra=f", {ordinal}"
        )
        self.event_from_offer = self._insert(
            f"SELECT %s, %s, {at}, %s, %s, {ex}, %s, {now} FROM {table} WHERE {pk} = %s"
        )
        self.assignee = _converters(connection, self.assignee_field, meta.db_table)

    # -- parameters --------------------------------------------------------

    @staticmethod
    def lookup(field: Any, value: Any, connection: Any) -> Any:
        """``value`` as a WHERE clause compares it with ``field`` (as ``filter()`` does)."""
        return field.get_db_prep_value(
            field.get_prep_value(value), connection, prepared=True
        )

    def deadline_params(self, seconds: float, connection: Any) -> list[Any]:
        """The parameters of ``now + seconds``, in the deadline's SQL."""
        params = list(self._deadline_params)
        params[self._seconds_at] = DurationField().get_db_prep_value(
            timedelta(seconds=seconds), connection
        )
        return params

    def later_params(self, seconds: float, connection: Any) -> list[Any]:
        """The parameters of ``deadline + seconds``, in the extension's SQL."""
        params = list(self._later_params)
        params[self._later_at] = DurationField().get_db_prep_value(
            timedelta(seconds=seconds), connection
        )
        return params

    def reset_params(self, connection: Any) -> list[Any]:
        """The pending status and each cleared field's default, for the reset."""
        return [
            self.pending,
            *(
                f.get_db_prep_save(f.get_default(), connection)
                for f in self.clear_fields
            ),
        ]

    # -- events --------------------------------------------------------------

    def _insert(self, source: str, extra: str = "") -> str:
        sql = f"INSERT INTO {self.events_table} ({self.event_columns}{extra}) {source}"
        if self.insert_returns:
            sql += f" RETURNING {self.event_returned}"
        return sql

    def event(
        self, cursor: Any, sql: str, params: Sequence[Any], using: str
    ) -> AssignmentEvent | None:
        """Run an event INSERT; the event it wrote, or None when it wrote none."""
        cursor.execute(sql, params)
        if self.insert_returns:
            row = cursor.fetchone()
        elif cursor.rowcount == 1:  # MySQL, SQLite before 3.35: read it back
            cursor.execute(
                f"SELECT {self.event_returned} FROM {self.events_table} "
                f"WHERE {self.event_pk} = %s",
                [cursor.lastrowid],
            )
            row = cursor.fetchone()
        else:
            row = None
        if row is None:
            return None
        connection = connections[using]
        values = [
            self.convert(converter, value, connection)
            for value, converter in zip(row, self.event_converters, strict=True)
        ]
        return AssignmentEvent.from_db(
            using, [f.attname for f in AssignmentEvent._meta.concrete_fields], values
        )

    @staticmethod
    def convert(converter: Converter, value: Any, connection: Any) -> Any:
        """A value as the ORM would read it from ``converter``'s column."""
        col, functions = converter
        for function in functions:
            value = function(value, col, connection)
        return value


def _fields(model: type[models.Model]) -> Callable[[str], Any]:
    # Every name passed is a concrete field the checks vouched for.
    return model._meta.get_field


def _converters(connection: Any, field: Any, table: str) -> Converter:
    # What the ORM's compiler applies to a column it reads: the backend's
    # converters, then the field's own (SQLite returns datetimes as text).
    col = field.get_col(table)
    return col, [
        *connection.ops.get_db_converters(col),
        *col.get_db_converters(connection),
    ]


def _later(seconds: float) -> ExpressionWrapper[Any]:
    # The stored deadline plus ``seconds``, as Django renders it per backend.
    return ExpressionWrapper(
        F(EXPIRES_AT) + Value(timedelta(seconds=seconds), output_field=DurationField()),
        output_field=DateTimeField(),
    )


def _deadline(
    compiler: Any, connection: Any, build: Callable[[float], Any]
) -> tuple[str, list[Any], int]:
    # ``build(seconds)`` compiled once; a call replaces only its seconds. The
    # seconds are found by a value no other parameter can have.
    marker = 123456.789012
    sql, params = compiler.compile(build(marker).resolve_expression(compiler.query))
    prepared = DurationField().get_db_prep_value(timedelta(seconds=marker), connection)
    (at,) = [i for i, param in enumerate(params) if param == prepared]
    return sql, list(params), at


def offer_values_sql(
    model: type[models.Model], values: dict[str, Any], using: str
) -> tuple[str, list[Any]]:
    """``col = %s, `` for an offer's own ``values``, as Django's UPDATE compiles them."""
    if not values:
        return "", []
    connection = connections[using]
    qn = connection.ops.quote_name
    query = UpdateQuery(model)
    compiler = query.get_compiler(using=using)
    parts, params = [], []
    for name, value in values.items():
        field: Any = model._meta.get_field(name)
        if hasattr(value, "resolve_expression"):
            value = value.resolve_expression(query, allow_joins=False, for_save=True)
            sql, value_params = compiler.compile(value)
            parts.append(f"{qn(field.column)} = {sql}")
            params.extend(value_params)
            continue
        if hasattr(value, "prepare_database_save") and field.remote_field:
            value = value.prepare_database_save(field)
        placeholder = "%s"
        if hasattr(field, "get_placeholder"):
            placeholder = field.get_placeholder(value, compiler, connection)
        parts.append(f"{qn(field.column)} = {placeholder}")
        params.append(field.get_db_prep_save(value, connection))
    return "".join(f"{part}, " for part in parts), params
