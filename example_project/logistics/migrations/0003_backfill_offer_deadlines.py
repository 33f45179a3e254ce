"""Adopting the mixin, step 2: give every open offer the deadline it already had.

Rows in ``ASSIGNING`` had no stored deadline: the old task expired them when
``assignment_started_at`` was more than the timeout ago. So each gets exactly
that deadline, ``assignment_started_at + DRIVER_ASSIGNMENT_TIMEOUT_SECONDS``,
computed by the database. Nothing is expired here: a row already past its
deadline is expired (and its EIC notified) by the next sweep, exactly as the
old task would have done; a row still inside its window keeps it. A row with
no start time gets a full window from now rather than being expired on the
spot. Each open offer becomes attempt 1.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.db.models import F

from django_assignment_timeout.clock import DatabaseNow, deadline_in


def backfill(apps, schema_editor):
    StockRequest = apps.get_model("logistics", "StockRequest")
    seconds = float(getattr(settings, "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS", 300))
    offered = StockRequest.objects.using(schema_editor.connection.alias).filter(
        status="ASSIGNING"
    )
    offered.filter(assignment_started_at__isnull=False).update(
        assignment_expires_at=F("assignment_started_at") + timedelta(seconds=seconds),
        assignment_attempt=1,
    )
    offered.filter(assignment_started_at__isnull=True).update(
        assignment_started_at=DatabaseNow(),
        assignment_expires_at=deadline_in(seconds),
        assignment_attempt=1,
    )


def forget(apps, schema_editor):
    # Going back to 0002 drops nothing here; 0002's reversal drops the columns.
    StockRequest = apps.get_model("logistics", "StockRequest")
    StockRequest.objects.using(schema_editor.connection.alias).update(
        assignment_expires_at=None
    )


class Migration(migrations.Migration):
    dependencies = [("logistics", "0002_adopt_assignment_mixin")]

    operations = [migrations.RunPython(backfill, forget, elidable=False)]
