"""Adopting the mixin on a live table (migrations 0001 -> 0004) loses nothing.

Rows already ASSIGNING before the library keep their driver and get the
deadline the old task would have applied (started + timeout): those past it
are expired by the next sweep, the others stay acceptable until it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from django_assignment_timeout.models import AssignmentEvent
from logistics.models import StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("logistics", "0001_initial")]
AFTER = [("logistics", "0004_offer_deadline_constraints")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def latest_schema_after():
    # The tests stop at 0004; later migrations (0005 driver stations) are put
    # back so the tests that run next find the whole schema.
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_open_offers_keep_their_window_and_overdue_ones_expire_on_the_next_sweep(
    settings,
):
    settings.DRIVER_ASSIGNMENT_TIMEOUT_SECONDS = 300
    old = migrate(BEFORE)
    User = old.get_model("auth", "User")
    DBS = old.get_model("logistics", "DBS")
    Driver = old.get_model("logistics", "Driver")
    OldRequest = old.get_model("logistics", "StockRequest")
    dbs = DBS.objects.create(code="K", name="DBS Kondli")
    ravi = Driver.objects.create(user=User.objects.create(username="ravi"), name="Ravi")
    now = timezone.now()

    def old_row(status, started=None, driver=ravi, mode="MANUAL"):
        return OldRequest.objects.create(
            dbs=dbs,
            status=status,
            target_driver=driver,
            assignment_started_at=started,
            assignment_mode=mode,
        ).pk

    recent = old_row("ASSIGNING", now - timedelta(seconds=60))
    overdue = old_row("ASSIGNING", now - timedelta(minutes=10))
    no_start = old_row("ASSIGNING", None)
    pending = old_row("PENDING", driver=None, mode=None)
    assigned = old_row("ASSIGNED", now - timedelta(hours=1))

    migrate(AFTER)

    rows = {row.pk: row for row in StockRequest.objects.all()}
    assert len(rows) == 5  # nothing lost
    deadline = rows[recent].assignment_expires_at
    assert deadline - rows[recent].assignment_started_at == timedelta(seconds=300)
    assert rows[overdue].assignment_expires_at < timezone.now()
    assert rows[no_start].assignment_started_at is not None
    assert rows[no_start].assignment_expires_at > timezone.now() + timedelta(
        seconds=290
    )
    for pk in (recent, overdue, no_start):
        assert (rows[pk].status, rows[pk].assignment_attempt) == ("ASSIGNING", 1)
        assert rows[pk].target_driver_id == ravi.pk
    for pk in (pending, assigned):
        assert rows[pk].assignment_expires_at is None
        assert rows[pk].assignment_attempt == 0
    assert rows[assigned].status == "ASSIGNED"

    # The migration itself expired nothing; the next sweep expires only the overdue row.
    assert not AssignmentEvent.objects.exists()
    result = StockRequest.objects.expire_due()
    assert result.expired_count == 1
    swept = StockRequest.objects.get(pk=overdue)
    assert (swept.status, swept.target_driver_id, swept.assignment_mode) == (
        "PENDING",
        None,
        None,
    )
    assert swept.assignment_started_at is None
    assert StockRequest.objects.get(pk=recent).status == "ASSIGNING"
    assert StockRequest.objects.get(pk=no_start).status == "ASSIGNING"
    (event,) = AssignmentEvent.objects.all()
    assert (event.object_pk, event.attempt, event.kind) == (str(overdue), 1, "expired")

    # A driver can still accept the offer they had before the migration.
    StockRequest.objects.accept(recent, ravi.pk, attempt=1)
    assert StockRequest.objects.get(pk=recent).status == "ASSIGNED"


def test_the_migrations_reverse(settings):
    migrate(BEFORE)
    migrate(AFTER)
    assert StockRequest.objects.count() == 0
