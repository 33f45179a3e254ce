"""Retention: pruning old events without touching the outbox or an open offer.

The event table is the audit trail and the notification outbox, so it grows
with every transition. :func:`prune_events` deletes events older than an age
(on the database clock) in bounded batches, each its own short transaction:
lock at most ``batch_size`` candidate rows in id order (``SKIP LOCKED`` where
the database has it, so a row another transaction holds is passed over rather
than waited for), delete them by id, commit. It never removes:

* an undelivered event (``pending``, including one a relay has claimed and is
  sending right now): it is the outbox, not history yet;
* any event of the attempt an assignment currently holds open (the row's
  attempt equals the event's and its deadline is set): the offer's own record;
* a dead letter, unless asked (``include_dead``): it is the evidence of a
  notification that never arrived.

An event's per-recipient delivery rows (:mod:`.recipient_delivery`) go with
it and never alone: a row still owed (``retry``) or given up on (``dead``)
belongs to an event that is pending or dead, which the rules above keep.

Events whose assignment row was deleted, or whose model is no longer
installed or no longer adopts the mixin, have no open offer and are pruned
like any other. An attempt that has ended can not open again (a new offer
takes a new attempt number), so the open-offer test needs no lock on the
assignment rows. Batches walk the ids upwards, so rows kept by a batch are
never read again in the same run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction

from django_assignment_timeout.clock import database_now
from django_assignment_timeout.conf import event_retention, sweep_interval
from django_assignment_timeout.events import AssignmentEvent, DeliveryState
from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    is_adopter,
    options_for,
)
from django_assignment_timeout.recipient_delivery import RecipientDelivery
from django_assignment_timeout.sweep.batch import batch_size_for
from django_assignment_timeout.validation import (
    duration_seconds,
    require_bool,
    require_positive_ints,
    shown,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from django.db.models import QuerySet

__all__ = [
    "AUTOMATIC_BATCHES",
    "AUTOMATIC_BATCH_SIZE",
    "DEFAULT_BATCH_SIZE",
    "PruneBatch",
    "PruneResult",
    "prune_events",
    "prune_if_configured",
    "prune_periodically",
]

logger = logging.getLogger("django_assignment_timeout.retention")

#: Events one prune batch deletes at most. A thousand ids keep each
#: transaction to a few tens of milliseconds (see the retention guide).
DEFAULT_BATCH_SIZE = 1000
#: Batches one call of :func:`prune_if_configured` takes: a periodic job
#: prunes a little every run instead of a lot in one.
AUTOMATIC_BATCHES = 2
#: Events per batch in :func:`prune_if_configured`.
AUTOMATIC_BATCH_SIZE = 1000

# (id, content type id, object key text, attempt) of a candidate event.
_Row = tuple[int, int, str, int]
#: What a batch reads of each event, in the order of :data:`_Row`.
_COLUMNS = ("pk", "content_type_id", "object_pk", "attempt")


@dataclass(frozen=True)
class PruneBatch:
    """One batch of a prune run, as its ``on_batch`` callback sees it."""

    #: 1 for the run's first batch.
    number: int
    #: Events deleted (in a dry run: that would be).
    deleted: int
    #: Old candidates kept because their offer is still open.
    kept_open: int
    #: Seconds the batch took; for a real run, how long its transaction held locks.
    seconds: float


@dataclass
class PruneResult:
    """What one prune run did (or, in a dry run, would do)."""

    #: Events deleted (in a dry run: that would be).
    deleted: int = 0
    #: Old events kept because their offer is still open.
    kept_open: int = 0
    #: Batches taken.
    batches: int = 0
    #: The longest batch in seconds.
    longest_batch_seconds: float = 0.0
    #: True when the run stopped at ``max_batches`` with candidates left.
    has_more: bool = False
    #: True for a dry run: nothing was changed.
    dry_run: bool = False
    #: Events created before this instant (database clock) were candidates.
    cutoff: datetime | None = None


def prune_events(
    older_than: timedelta | float | str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    using: str | None = None,
    dry_run: bool = False,
    include_dead: bool = False,
    on_batch: Callable[[PruneBatch], object] | None = None,
) -> PruneResult:
    """Delete delivered events created more than ``older_than`` ago, in batches.

    ``older_than`` is a timedelta, seconds, or text such as ``"90d"``.
    Each batch is one transaction over at most ``batch_size`` events (on
    SQLite and MySQL at most 5,000, their bound-parameter limit). With
    ``max_batches`` the run stops after that many and ``has_more`` says
    whether candidates are left. ``dry_run`` counts and changes nothing;
    ``include_dead`` prunes dead letters too. ``on_batch`` is called after
    each batch (committed) with a :class:`PruneBatch`. Bad arguments are an
    :class:`~django_assignment_timeout.exceptions.InvalidArgument`.
    """
    seconds = duration_seconds(older_than, "older_than")
    require_positive_ints(batch_size=batch_size)
    if max_batches is not None:
        require_positive_ints(max_batches=max_batches)
    require_bool(dry_run, "dry_run")
    require_bool(include_dead, "include_dead")
    if using is None:
        using = router.db_for_write(AssignmentEvent)
    elif using not in connections.settings:
        raise InvalidArgument(f"No database {shown(using)}.", argument="using")
    size = batch_size_for(using, batch_size)
    states: list[str] = [DeliveryState.DELIVERED]
    if include_dead:
        states.append(DeliveryState.DEAD)
    cutoff = database_now(using) - timedelta(seconds=seconds)
    result = PruneResult(dry_run=dry_run, cutoff=cutoff)
    after = 0  # ids walk upwards (keyset), so a kept row is read once a run
    while max_batches is None or result.batches < max_batches:
        started = time.monotonic()
        # A dry run reads without a transaction: on SQLite (IMMEDIATE mode)
        # a transaction would take the one write lock.
        scope = nullcontext() if dry_run else transaction.atomic(using=using)
        with scope:
            found = list(_candidates(using, cutoff, states, after, size))
            # Each found row is locked by primary key, its conditions checked
            # again under the lock; one a writer holds right now is skipped
            # (left for the next run), never waited for.
            rows = found if dry_run else _locked(using, cutoff, states, found)
            doomed, kept = _split(rows, using)
            deleted = len(doomed) if dry_run else _delete(doomed, states, using)
        took = time.monotonic() - started
        if not found:
            break
        # The walk goes on from what was found, not from what was locked: a
        # skipped row must not end the run (a short batch means "no more").
        after = found[-1][0]
        result.batches += 1
        result.deleted += deleted
        result.kept_open += kept
        result.longest_batch_seconds = max(result.longest_batch_seconds, took)
        if on_batch is not None:
            on_batch(PruneBatch(result.batches, deleted, kept, took))
        if len(found) < size:
            break
    else:
        result.has_more = _candidates(using, cutoff, states, after, 1).exists()
    logger.info(
        "%s %d events older than %s in %d batch(es)%s",
        "would prune" if dry_run else "pruned",
        result.deleted,
        cutoff.isoformat(),
        result.batches,
        " (more left)" if result.has_more else "",
    )
    return result


def prune_if_configured(*, max_batches: int = AUTOMATIC_BATCHES) -> PruneResult | None:
    """One bounded prune, if ``ASSIGNMENT_TIMEOUT_EVENT_RETENTION`` is set.

    For the periodic jobs: at most ``max_batches`` batches of
    :data:`AUTOMATIC_BATCH_SIZE`, dead letters kept. Returns None (and
    touches nothing) when retention is off.
    """
    seconds = event_retention()
    if seconds is None:
        return None
    return prune_events(
        seconds, batch_size=AUTOMATIC_BATCH_SIZE, max_batches=max_batches
    )


#: When this process may next prune from a periodic job (monotonic seconds).
_next_periodic_prune = 0.0


def prune_periodically() -> PruneResult | None:
    """:func:`prune_if_configured`, at most once per sweep interval per process.

    Called by the sweep jobs and ``expire_assignments`` after their sweep. A
    deadline-aware loop may sweep many times an interval; pruning belongs to
    the interval, not to each wake. A failure (a bad setting included, which
    check E055 reports) is logged and never raised: the sweep it follows has
    committed, and the next interval tries again.
    """
    global _next_periodic_prune
    now = time.monotonic()
    if now < _next_periodic_prune:
        return None
    try:
        if event_retention() is None:  # reads a setting, queries nothing
            return None
        _next_periodic_prune = now + sweep_interval()
        return prune_if_configured()
    except Exception:
        logger.exception("Pruning old events failed; the next interval retries it.")
        return None


def _candidates(
    using: str, cutoff: datetime, states: list[str], after: int, size: int
) -> QuerySet[Any]:
    """Old events in ``states`` with ids above ``after``, in id order, unlocked."""
    events = AssignmentEvent.objects.using(using)
    old = {"created_at__lt": cutoff, "delivery_state__in": states}
    return (
        events.filter(pk__gt=after, **old).order_by("pk").values_list(*_COLUMNS)[:size]
    )


def _locked(
    using: str, cutoff: datetime, states: list[str], found: list[_Row]
) -> list[_Row]:
    """The ``found`` rows, locked by primary key and still old and in ``states``.

    The batch is found without locks and then locked by primary key: a
    locking read of the range itself locks every row it reads, and InnoDB
    may read the whole old range through the created_at index to sort it by
    id. Rows another transaction holds are skipped where the database can
    (SQLite has no row locks; its single writer stands in for them).
    """
    skip = connections[using].features.has_select_for_update_skip_locked
    return list(
        AssignmentEvent.objects.using(using)
        .filter(
            pk__in=[row[0] for row in found],
            created_at__lt=cutoff,
            delivery_state__in=states,
        )
        .order_by("pk")
        .values_list(*_COLUMNS)
        .select_for_update(skip_locked=skip)
    )


def _split(rows: Iterable[_Row], using: str) -> tuple[list[int], int]:
    """The ids of ``rows`` that may go, and how many are kept for an open offer."""
    by_type: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        by_type[row[1]].append(row)
    doomed: list[int] = []
    kept = 0
    for content_type_id, group in by_type.items():
        protected = _open_attempts(content_type_id, group, using)
        for row in group:
            if (row[2], row[3]) in protected:
                kept += 1
            else:
                doomed.append(row[0])
    return doomed, kept


def _open_attempts(
    content_type_id: int, rows: list[_Row], using: str
) -> set[tuple[str, int]]:
    """(object key text, attempt) of the ``rows`` whose attempt is open now."""
    try:
        content_type = ContentType.objects.db_manager(using).get_for_id(content_type_id)
    except ContentType.DoesNotExist:
        return set()
    model = content_type.model_class()
    if not is_adopter(model):  # uninstalled, or no longer uses the mixin
        return set()
    opts = options_for(model)
    keys: dict[Any, str] = {}
    for _id, _type, text, _attempt in rows:
        try:
            keys[opts.key(text, using)] = text
        except InvalidArgument:  # no row can have this key: nothing to keep
            continue
    open_rows = (
        model._base_manager.using(using)
        .filter(pk__in=list(keys), **{f"{EXPIRES_AT}__isnull": False})
        .values_list("pk", ATTEMPT)
    )
    return {(keys[pk], attempt) for pk, attempt in open_rows}


def _delete(ids: list[int], states: list[str], using: str) -> int:
    """Delete ``ids`` (locked by the caller) and their recipient rows; how many went."""
    if not ids:
        return 0
    # The events' recipient rows first, then the events, each in one
    # statement by id: QuerySet.delete() would load every event to cascade
    # in Python and delete them 100 at a time (measured on PostgreSQL, 3,000
    # events in batches of 1,000: longest batch 0.53 s that way, 0.19 s this
    # way). Not through a subquery of the events: in a DELETE, InnoDB takes
    # shared locks on what a subquery reads.
    RecipientDelivery.objects.using(using).filter(event_id__in=ids).delete()
    connection = connections[using]
    doomed = AssignmentEvent.objects.using(using).filter(pk__in=ids)
    if not connection.features.has_select_for_update:
        # No row locks (SQLite): a state fence keeps a row that changed state
        # since it was read (a requeued dead letter).
        doomed = doomed.filter(delivery_state__in=states)
    return doomed._raw_delete(using)
