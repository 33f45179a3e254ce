"""The numbers an operator watches, read in a few cheap queries: one place for all.

:func:`current_status` answers, on the database clock: per model, how many
offers are open and due and how overdue the oldest is, and when the sweeper
last swept it; the notification outbox's backlog, its oldest pending age and
its dead letters; and how late expiries were over a recent window. The
``assignment_status`` command, the health check and metrics read it from
here, so they never disagree.

Every query is bounded by an index: the deadline's partial index (open and
due offers), the relay's partial index (the backlog), the dead letters'
partial index, the heartbeat's unique name, and the primary key for the
lateness window, which reads at most :data:`LATENESS_SAMPLE` recent events
however large the audit trail has grown.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import router
from django.db.models import Count, F, Min, Subquery, Value
from django.db.models.functions import Coalesce

from django_assignment_timeout.clock import database_now
from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.events import AssignmentEvent, DeliveryState, EventKind
from django_assignment_timeout.events import lateness as expiry_lateness
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.heartbeat import SweeperHeartbeat
from django_assignment_timeout.options import EXPIRES_AT, assignment_models
from django_assignment_timeout.sweep.batch import due

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db import models

__all__ = [
    "LATENESS_SAMPLE",
    "LATENESS_WINDOW",
    "LatenessStatus",
    "ModelStatus",
    "OutboxStatus",
    "Status",
    "current_status",
    "lateness_status",
    "model_status",
    "outbox_status",
    "percentile",
]

#: How far back the lateness figures look.
LATENESS_WINDOW = timedelta(hours=1)
#: The most recent events (of every kind) the lateness figures read, at most.
LATENESS_SAMPLE = 10_000


@dataclass(frozen=True)
class ModelStatus:
    """One adopting model's offers and its sweeper."""

    #: The model's label (``"logistics.StockRequest"``).
    model: str
    #: Open offers, due or not.
    open_offers: int
    #: Open offers past their deadline: the sweeper's work not yet done.
    due_offers: int
    #: Seconds the most overdue open offer is past its deadline (None: none due).
    oldest_overdue_seconds: float | None
    #: When a sweep last swept this model (None: never).
    last_swept_at: datetime | None
    #: Seconds since then.
    last_swept_age_seconds: float | None
    #: ``host:pid`` of the process that swept it last.
    swept_by: str


@dataclass(frozen=True)
class OutboxStatus:
    """The notification relay's queue."""

    #: Events waiting for delivery (new, or to be retried).
    backlog: int
    #: Seconds since the oldest of them was written (None: the backlog is empty).
    oldest_pending_age_seconds: float | None
    #: Events the relay gave up on (re-queue them from the admin).
    dead_letters: int


@dataclass(frozen=True)
class LatenessStatus:
    """How long after their deadline offers were expired, recently."""

    #: Seconds of history looked at (:data:`LATENESS_WINDOW`).
    window_seconds: float
    #: Expiries measured (within the window and the last :data:`LATENESS_SAMPLE` events).
    count: int
    p50_seconds: float | None
    p99_seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True)
class Status:
    """Everything :func:`current_status` read, at one reading of the database clock."""

    #: The database clock when the status was read.
    checked_at: datetime
    #: ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` in seconds (None when it is invalid).
    sweep_interval_seconds: float | None
    models: tuple[ModelStatus, ...]
    outbox: OutboxStatus
    lateness: LatenessStatus

    @property
    def sweeper_last_run_at(self) -> datetime | None:
        """The least recent of every model's last sweep (None if one was never swept).

        So it is the moment since which *every* model has been swept: a
        sweeper that serves only some models does not hide the others.
        """
        stamps = [m.last_swept_at for m in self.models]
        if not stamps or None in stamps:
            return None
        return min(s for s in stamps if s is not None)

    @property
    def sweeper_age_seconds(self) -> float | None:
        """Seconds since :attr:`sweeper_last_run_at`."""
        last = self.sweeper_last_run_at
        return None if last is None else _seconds(self.checked_at - last)

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON-able values (datetimes in ISO 8601)."""
        data = asdict(self)
        data["checked_at"] = self.checked_at.isoformat()
        for model in data["models"]:
            stamp = model["last_swept_at"]
            model["last_swept_at"] = None if stamp is None else stamp.isoformat()
        last = self.sweeper_last_run_at
        data["sweeper"] = {
            "last_run_at": None if last is None else last.isoformat(),
            "age_seconds": self.sweeper_age_seconds,
        }
        return data


def current_status(
    models: Iterable[type[models.Model]] | None = None, *, using: str | None = None
) -> Status:
    """Read the status of ``models`` (default: every adopting model) and the outbox.

    ``using`` reads every table from that database; by default each from
    where the router reads it.
    """
    events_db = using or router.db_for_read(AssignmentEvent)
    now = database_now(events_db)
    try:
        interval: float | None = sweep_interval()
    except ConfigurationError:  # reported by check E011
        interval = None
    chosen = assignment_models() if models is None else list(models)
    return Status(
        checked_at=now,
        sweep_interval_seconds=interval,
        models=tuple(model_status(model, now, using=using) for model in chosen),
        outbox=outbox_status(now, using=using),
        lateness=lateness_status(now, using=using),
    )


def model_status(
    model: type[models.Model], now: datetime, *, using: str | None = None
) -> ModelStatus:
    """One model's open and due offers and last sweep, as of ``now`` (database clock).

    Three index reads: the deadline's partial index counts open offers (the
    check constraint makes "has a deadline" the same as "offered") and due
    ones and finds the oldest deadline; the heartbeat is found by name.
    """
    db = using or router.db_for_read(model)
    offers = model._base_manager.using(db)
    open_offers = offers.filter(**{f"{EXPIRES_AT}__isnull": False}).count()
    overdue = due(offers.all())
    due_offers = overdue.count()
    oldest = overdue.order_by(EXPIRES_AT).values_list(EXPIRES_AT, flat=True).first()
    label = model._meta.label
    beat = (
        SweeperHeartbeat.objects.using(using or router.db_for_read(SweeperHeartbeat))
        .filter(name=label)
        .first()
    )
    last = None if beat is None else beat.last_run_at
    return ModelStatus(
        model=label,
        open_offers=open_offers,
        due_offers=due_offers,
        oldest_overdue_seconds=None if oldest is None else _seconds(now - oldest),
        last_swept_at=last,
        last_swept_age_seconds=None if last is None else _seconds(now - last),
        swept_by="" if beat is None else f"{beat.host}:{beat.pid}",
    )


def outbox_status(now: datetime, *, using: str | None = None) -> OutboxStatus:
    """The relay's backlog, its oldest pending age and the dead letters (two queries).

    A pending event always has a next attempt, so the backlog is read from
    the relay's partial index; its cost grows with the backlog, not with the
    events ever written.
    """
    events = AssignmentEvent.objects.using(using or router.db_for_read(AssignmentEvent))
    pending = events.filter(
        delivery_state=DeliveryState.PENDING, next_attempt_at__isnull=False
    ).aggregate(backlog=Count("id"), oldest=Min("created_at"))
    oldest = pending["oldest"]
    return OutboxStatus(
        backlog=pending["backlog"],
        oldest_pending_age_seconds=None if oldest is None else _seconds(now - oldest),
        dead_letters=events.dead().count(),
    )


def lateness_status(
    now: datetime,
    *,
    using: str | None = None,
    window: timedelta = LATENESS_WINDOW,
    sample: int = LATENESS_SAMPLE,
) -> LatenessStatus:
    """p50 / p99 / max lateness of the expiries in ``window`` before ``now``.

    Only the last ``sample`` events (by id) are read, through the primary
    key, so the cost is bounded however many events exist. Offers ended
    early by ``expire(force=True)`` are not late and are left out.
    """
    events = AssignmentEvent.objects.using(using or router.db_for_read(AssignmentEvent))
    # The id of the sample-th newest event (0 when there are fewer): a
    # scalar subquery, which MariaDB allows with LIMIT where IN does not.
    oldest_id = events.order_by("-id").values("id")[sample - 1 : sample]
    seconds = sorted(
        _seconds(value)
        for value in events.filter(
            id__gte=Coalesce(Subquery(oldest_id), Value(0)),
            kind=EventKind.EXPIRED,
            deadline__isnull=False,
            created_at__gte=now - window,
        )
        .filter(created_at__gte=F("deadline"))
        .annotate(lateness=expiry_lateness())
        .values_list("lateness", flat=True)
        if value is not None
    )
    return LatenessStatus(
        window_seconds=window.total_seconds(),
        count=len(seconds),
        p50_seconds=percentile(seconds, 50),
        p99_seconds=percentile(seconds, 99),
        max_seconds=seconds[-1] if seconds else None,
    )


def percentile(ordered: list[float], rank: float) -> float | None:
    """The nearest-rank ``rank``-th percentile of an ascending list (None if empty)."""
    if not ordered:
        return None
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 6)
