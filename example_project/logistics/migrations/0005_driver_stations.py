"""The stations each driver serves: whom auto-dispatch offers a DBS's requests to."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("logistics", "0004_offer_deadline_constraints")]

    operations = [
        migrations.AddField(
            model_name="driver",
            name="stations",
            field=models.ManyToManyField(
                blank=True,
                related_name="drivers",
                to="logistics.dbs",
                verbose_name="stations",
            ),
        ),
    ]
