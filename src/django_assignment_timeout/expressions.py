"""Database-clock expressions.

Every deadline is computed and compared on the database server, never in
Python, so that web workers with skewed clocks agree on when an offer ends.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import DateTimeField, DurationField, ExpressionWrapper, Value
from django.db.models.functions import Now


class DatabaseNow(Now):
    """``Now()`` that is UTC on every backend.

    Django's ``Now()`` is ``CURRENT_TIMESTAMP(6)`` on MySQL, which is in the
    session's time zone, while Django stores UTC there when ``USE_TZ`` is on.
    ``UTC_TIMESTAMP(6)`` is the same instant in the representation Django uses.
    """

    def as_mysql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="UTC_TIMESTAMP(6)", **extra_context
        )


def deadline_in(seconds: float) -> ExpressionWrapper:
    """The database's now plus ``seconds``, as a datetime expression."""
    return ExpressionWrapper(
        DatabaseNow()
        + Value(timedelta(seconds=seconds), output_field=DurationField()),
        output_field=DateTimeField(),
    )
