"""The sweep: expire every due offer in bounded batches, exactly once.

Each batch is one transaction that locks its due rows (SKIP LOCKED, so
concurrent sweepers split the work instead of queueing), moves them back to
pending and writes their ``expired`` events. On PostgreSQL a batch is a single
statement; elsewhere it is three, whatever the batch size. After a model's
expiry batches, :func:`sweep` writes the reminders it has due
(:mod:`.reminders`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction

from django_assignment_timeout import signals
from django_assignment_timeout.after_commit import announce_expiry, schedule_delivery
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.heartbeat import record_sweep
from django_assignment_timeout.options import EXPIRES_AT, assignment_models, options_for
from django_assignment_timeout.reminders import remind_due
from django_assignment_timeout.sweep.batch import Batch, batch_size_for, due, using_for
from django_assignment_timeout.sweep.portable import expire_batch_portable
from django_assignment_timeout.sweep.postgresql import expire_batch_postgresql
from django_assignment_timeout.validation import require_positive_ints

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from django.db import models
    from django.db.models import QuerySet

logger = logging.getLogger("django_assignment_timeout")

__all__ = ["SweepResult", "count_due", "expire_batch", "sweep", "sweep_queryset"]


@dataclass
class SweepResult:
    """What one sweep run did."""

    #: Offers expired, all models together.
    expired_count: int = 0
    #: Offers expired per model label (``"logistics.StockRequest"``).
    by_model: dict[str, int] = field(default_factory=dict)
    #: Batches (transactions) run.
    batches: int = 0
    #: True when the run stopped at its batch limit with offers still due.
    has_more: bool = False
    #: Batches that expired at least one offer (what ``max_batches`` limits).
    working_batches: int = 0
    #: ``reminded`` events written (models that declare ``remind_before``).
    reminded_count: int = 0

    def as_dict(self) -> dict[str, int]:
        """``{"expired_count": N}``, the shape a task returns."""
        return {"expired_count": self.expired_count}

    def merge(self, other: SweepResult) -> None:
        """Add another run's counts to this one."""
        self.expired_count += other.expired_count
        self.reminded_count += other.reminded_count
        self.batches += other.batches
        self.working_batches += other.working_batches
        self.has_more = self.has_more or other.has_more
        for label, count in other.by_model.items():
            self.by_model[label] = self.by_model.get(label, 0) + count


def sweep(
    models: Iterable[type[models.Model]] | None = None,
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> SweepResult:
    """Expire due offers of ``models`` (default: every model using the mixin).

    Runs at most ``max_batches`` batches of at most ``batch_size`` rows in
    total, then triggers notification delivery once. A batch that finds
    nothing due does not count against ``max_batches``: otherwise a model
    with nothing to do could use up the budget and starve the next one.
    Each model swept gets its heartbeat (:func:`.heartbeat.record_sweep`).
    A model that declares ``remind_before`` then gets its due reminders
    (:func:`.reminders.remind_due`, after its expiry batches, whatever the
    batch budget left); delivery is triggered when either wrote an event.
    """
    batch_size, max_batches = _limits(batch_size, max_batches)
    result = SweepResult()
    swept = []
    chosen = list(assignment_models() if models is None else models)
    for model in chosen:
        remaining = max_batches - result.working_batches
        if remaining <= 0:
            result.has_more = result.has_more or due(model._base_manager.all()).exists()
            continue
        result.merge(
            _sweep(model._base_manager.all(), batch_size, remaining, notify=False)
        )
        swept.append(model._meta.label)
    for model in chosen:
        if options_for(model).remind_before is not None:
            result.reminded_count += _remind(model, batch_size)
    record_sweep(swept)
    if result.expired_count or result.reminded_count:
        schedule_delivery()
    return result


def sweep_queryset(
    queryset: QuerySet[Any],
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> SweepResult:
    """Expire the due offers among ``queryset``'s rows, in bounded batches."""
    batch_size, max_batches = _limits(batch_size, max_batches)
    return _sweep(queryset, batch_size, max_batches, notify=True)


def count_due(models: Iterable[type[models.Model]] | None = None) -> dict[str, int]:
    """How many offers each model has past their deadline (for ``--dry-run``)."""
    return {
        model._meta.label: due(model._base_manager.all()).count()
        for model in (assignment_models() if models is None else models)
    }


def expire_batch(
    queryset: QuerySet[Any], batch_size: int, *, after: datetime | None = None
) -> list[signals.ExpiredOffer]:
    """Expire at most ``batch_size`` due offers of ``queryset`` in one transaction.

    Offers are taken oldest deadline first; ``after`` skips those with an
    earlier deadline (a sweep passes the last deadline it expired, so each
    batch starts where the previous one ended instead of walking the index
    entries of every row already expired). Off PostgreSQL the batch is also
    capped at :data:`PORTABLE_MAX_BATCH`.
    """
    return _run_batch(queryset, batch_size, after=after, detail=True).expired


def _run_batch(
    queryset: QuerySet[Any], batch_size: int, *, after: datetime | None, detail: bool
) -> Batch:
    """Expire one batch; with ``detail`` off, PostgreSQL ships no rows to Python.

    The rows are only needed for ``assignment_expired`` receivers; without
    any, the statement returns just the count and the last deadline.
    """
    using = using_for(queryset)
    connection = connections[using]
    batch_size = batch_size_for(using, batch_size)
    if after is not None:
        queryset = queryset.filter(**{f"{EXPIRES_AT}__gte": after})
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            batch = expire_batch_postgresql(queryset, batch_size, using, detail)
        else:
            expired = expire_batch_portable(queryset, batch_size, using)
            batch = Batch(
                len(expired), max((e.deadline for e in expired), default=None), expired
            )
        if batch.expired:
            # Signals per committed batch; delivery is triggered once per run.
            transaction.on_commit(
                partial(announce_expiry, queryset.model, batch.expired),
                using=using,
                robust=True,
            )
    return batch


# -- internals ---------------------------------------------------------------


def _limits(batch_size: int | None, max_batches: int | None) -> tuple[int, int]:
    batch_size = app_settings.BATCH_SIZE if batch_size is None else batch_size
    max_batches = app_settings.MAX_BATCHES if max_batches is None else max_batches
    require_positive_ints(batch_size=batch_size, max_batches=max_batches)
    return batch_size, max_batches


def _remind(model: type[models.Model], batch_size: int) -> int:
    # The expiries are committed whatever happens here: a failing reminder
    # pass is logged, and their delivery is still triggered.
    try:
        return remind_due(model, batch_size=batch_size)
    except Exception:
        logger.exception("Could not write the reminders of %s.", model._meta.label)
        return 0


def _sweep(
    queryset: QuerySet[Any], batch_size: int, max_batches: int, *, notify: bool
) -> SweepResult:
    result = SweepResult()
    label = queryset.model._meta.label
    # A short batch means nothing more is due (or the rest is locked by
    # another sweeper); compare with the size the batch could really take.
    batch_size = batch_size_for(using_for(queryset), batch_size)
    after = None
    detail = signals.assignment_expired.has_listeners(queryset.model)
    while result.working_batches < max_batches:
        batch = _run_batch(queryset, batch_size, after=after, detail=detail)
        result.batches += 1
        if batch.count:
            # Every due row with an earlier deadline is expired, or held by
            # another sweeper (the next run takes it if it is still due).
            after = batch.last_deadline
            result.working_batches += 1
            result.expired_count += batch.count
            result.by_model[label] = result.by_model.get(label, 0) + batch.count
        if batch.count < batch_size:
            break
    else:
        result.has_more = due(queryset).exists()
    if notify and result.expired_count:
        schedule_delivery()
    return result
