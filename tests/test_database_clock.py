"""The database clock compares with stored datetimes as the instants do."""

from __future__ import annotations

from datetime import timezone

import pytest
from django.db import connection
from django.db.models import DateTimeField
from django.db.models.sql import Query
from django.utils.dateparse import parse_datetime

from django_assignment_timeout.clock import DatabaseNow

pytestmark = pytest.mark.django_db


def test_a_deadline_stored_at_the_clocks_reading_is_not_ahead_of_it():
    # SQLite compares datetimes as text: a reading of three fractional
    # digits ("...00.128") sorted before the six Django stores for the same
    # instant ("...00.128000"), so a deadline equal to now was still ahead,
    # and an accept in the deadline's very millisecond passed.
    sql, params = Query(None).get_compiler(connection=connection).compile(DatabaseNow())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        (reading,) = cursor.fetchone()
        instant = parse_datetime(reading) if isinstance(reading, str) else reading
        if instant.tzinfo is None:  # SQLite's text is UTC
            instant = instant.replace(tzinfo=timezone.utc)
        stored = DateTimeField().get_db_prep_value(instant, connection)
        cursor.execute("SELECT %s > %s, %s < %s", [stored, reading] * 2)
        assert tuple(map(bool, cursor.fetchone())) == (False, False)
