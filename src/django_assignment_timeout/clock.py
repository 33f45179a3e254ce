"""The database clock: expressions that read and compute time on the database server.

Every deadline is computed and compared on the database server, never in
Python, so that web workers with skewed clocks agree on when an offer ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.db.models.sql import Query
from django.utils.dateparse import parse_datetime

if TYPE_CHECKING:
    from django.db.models import QuerySet

__all__ = [
    "ClockReading",
    "DatabaseNow",
    "database_now",
    "deadline_in",
    "seconds_until_earliest",
]


class DatabaseNow(Now):
    """``Now()`` that is UTC on every backend, and compares as stored datetimes do.

    Django's ``Now()`` is ``CURRENT_TIMESTAMP(6)`` on MySQL, which is in the
    session's time zone, while Django stores UTC there when ``USE_TZ`` is on.
    ``UTC_TIMESTAMP(6)`` is the same instant in the representation Django uses.
    """

    def as_mysql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="UTC_TIMESTAMP(6)", **extra_context
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # SQLite compares datetimes as text. Django's Now() there has three
        # fractional digits and stored datetimes six, so "…00.128000" (a
        # deadline) sorted after "…00.128" (now), the same instant: an accept
        # in the deadline's very millisecond passed. Six digits each compare
        # as the instants do.
        return self.as_sql(
            compiler,
            connection,
            template="STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f000', 'NOW')",
            **extra_context,
        )


def deadline_in(seconds: float) -> ExpressionWrapper[CombinedExpression]:
    """The database's now plus ``seconds``, as a datetime expression."""
    return ExpressionWrapper(
        DatabaseNow() + Value(timedelta(seconds=seconds), output_field=DurationField()),
        output_field=DateTimeField(),
    )


def database_now(using: str) -> datetime:
    """Read the database clock once, as an aware UTC datetime.

    An answer (accept / reject) compares the deadline with this value and
    stamps its event with it, so the event records the very instant the
    decision was made on, not the later moment its INSERT ran.
    """
    connection = connections[using]
    compiler = Query(None).get_compiler(using=using)
    sql, params = compiler.compile(DatabaseNow())
    with connection.cursor() as cursor:
        # A params list (even empty) makes every backend unescape "%%".
        cursor.execute(f"SELECT {sql}", list(params))
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # SQLite returns text
        value = parse_datetime(value)
    if value.tzinfo is None:  # MySQL returns naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ClockReading:
    """One reading of the database clock, carried forward by the monotonic clock.

    The relay reads the database once per batch; a notifier that needs the
    time (how long an offer's push may live) asks :meth:`now`, which adds the
    monotonic seconds since the reading. An app server whose wall clock is
    wrong still measures the time left against the database's, which is the
    clock every deadline was set on. Valid only in the process that read it.
    """

    database: datetime
    monotonic: float = field(default_factory=time.monotonic)

    @classmethod
    def read(cls, using: str) -> ClockReading:
        """Read the clock of database ``using`` now (one query)."""
        return cls(database_now(using))

    def now(self) -> datetime:
        """The database's time now, estimated from the reading."""
        return self.database + timedelta(seconds=time.monotonic() - self.monotonic)

    def seconds_until(self, moment: datetime) -> float:
        """Seconds from now (on the database clock) to ``moment``; negative once passed."""
        return (moment - self.now()).total_seconds()


def seconds_until_earliest(queryset: QuerySet[Any], field: str) -> float | None:
    """Seconds from the database's now to the earliest non-null ``field`` of ``queryset``.

    One query, ``ORDER BY field LIMIT 1`` with the database's now beside it,
    so a partial index on ``field`` (``WHERE field IS NOT NULL``) answers it
    with one index probe, and the difference is taken between two readings
    of the database clock: an app server whose clock is off does not sleep
    too long or too short. Negative when that moment has passed; ``None``
    when there is none.
    """
    row = (
        queryset.filter(**{f"{field}__isnull": False})
        .order_by(field)
        .annotate(_database_now=DatabaseNow())
        .values_list(field, "_database_now")
        .first()
    )
    if row is None:
        return None
    earliest, now = row
    return float((earliest - now).total_seconds())
