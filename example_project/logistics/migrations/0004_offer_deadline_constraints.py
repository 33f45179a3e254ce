"""Adopting the mixin, step 3: the invariants, once every row satisfies them.

The check constraint (a deadline is set if and only if the row is
``ASSIGNING``) could not be added before 0003 filled in the deadlines; the
partial index on the deadline is what keeps the sweep at one index read when
nothing is due.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("logistics", "0003_backfill_offer_deadlines")]

    operations = [
        migrations.AddIndex(
            model_name="stockrequest",
            index=models.Index(
                condition=models.Q(("assignment_expires_at__isnull", False)),
                fields=["assignment_expires_at"],
                name="logistics_stockre_33ee29_dl_ix",
            ),
        ),
        migrations.AddConstraint(
            model_name="stockrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("status", "ASSIGNING"),
                        ("assignment_expires_at__isnull", False),
                    ),
                    models.Q(
                        models.Q(("status", "ASSIGNING"), _negated=True),
                        ("assignment_expires_at__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="logistics_stockre_d0510d_dl_ck",
                violation_error_message=(
                    "An offer deadline is set if and only if the row is offered."
                ),
            ),
        ),
    ]
