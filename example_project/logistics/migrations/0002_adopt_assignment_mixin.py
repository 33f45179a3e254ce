"""Adopting the mixin, step 1: add the stored deadline and the attempt counter.

Both are nullable / defaulted, so this is instant on a live table and every
existing row keeps its status, driver and start time.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("logistics", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="stockrequest",
            name="assignment_attempt",
            field=models.PositiveIntegerField(
                db_default=0, default=0, editable=False, verbose_name="offer attempt"
            ),
        ),
        migrations.AddField(
            model_name="stockrequest",
            name="assignment_expires_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="offer deadline"
            ),
        ),
        migrations.AlterField(
            model_name="stockrequest",
            name="assignment_started_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="offer started at"
            ),
        ),
    ]
