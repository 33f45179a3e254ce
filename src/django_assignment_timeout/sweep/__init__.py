"""The sweep: expire every due offer in bounded batches, exactly once.

:mod:`.driver` runs the batches and counts them; each batch is expired by
:mod:`.postgresql` (one statement) or :mod:`.portable` (three statements),
from the shared pieces in :mod:`.batch`. :mod:`.deadline` tells a loop when the
next offer falls due.
"""

from __future__ import annotations

from django_assignment_timeout.exceptions import SweepConflict
from django_assignment_timeout.sweep.batch import PORTABLE_MAX_BATCH
from django_assignment_timeout.sweep.deadline import next_deadline
from django_assignment_timeout.sweep.driver import (
    SweepResult,
    count_due,
    expire_batch,
    sweep,
    sweep_queryset,
)

__all__ = [
    "PORTABLE_MAX_BATCH",
    "SweepConflict",
    "SweepResult",
    "count_due",
    "expire_batch",
    "next_deadline",
    "sweep",
    "sweep_queryset",
]
