"""What the dispatch pages show: rows with time left, and recent expiry notices.

Time left is measured against the database clock (selected with the rows),
the clock the lifecycle decides on, so the page and the server agree on when
an offer ends even if the web host's clock drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast

from django_assignment_timeout.clock import DatabaseNow, deadline_in
from django_assignment_timeout.models import AssignmentEvent, EventKind
from logistics.chains import latest_chains, spoken_for
from logistics.models import DBS, Driver, StockRequest

#: How far back the notices look, and how many they show.
NOTICE_WINDOW = timedelta(minutes=30)
NOTICE_LIMIT = 10


@dataclass(frozen=True)
class Notice:
    """One thing a person should know about: an offer expired or was turned down."""

    event_id: int
    kind: str
    request_id: int
    created_at: datetime
    title: str
    text: str


def with_clock(queryset: QuerySet[StockRequest]) -> QuerySet[StockRequest]:
    """``queryset`` with the database's now selected as ``db_now``."""
    return queryset.annotate(db_now=DatabaseNow())


def seconds_left(row: StockRequest) -> float | None:
    """Seconds until the row's offer ends (may be negative), or None without one."""
    if row.status != StockRequest.Status.ASSIGNING or row.assignment_expires_at is None:
        return None
    now = getattr(row, "db_now", None)
    if now is None:
        raise ValueError("select the database clock first: with_clock(queryset)")
    return (row.assignment_expires_at - now).total_seconds()


def board_rows(dbs: DBS, limit: int = 100) -> list[StockRequest]:
    """The newest stock requests of ``dbs``, each with ``seconds_left`` and ``chain``.

    ``chain`` is the request's latest auto-dispatch chain (a
    :class:`logistics.chains.ChainView`) or None.
    """
    rows = list(
        with_clock(StockRequest.objects.filter(dbs=dbs))
        .select_related("target_driver")
        .order_by("-id")[:limit]
    )
    chains = latest_chains(rows)
    for row in rows:
        row.seconds_left = seconds_left(row)  # type: ignore[attr-defined]
        row.chain = chains.get(row.pk)  # type: ignore[attr-defined]
    return rows


def driver_offers(driver: Driver) -> list[StockRequest]:
    """The driver's open offers, soonest deadline first, each with ``seconds_left``.

    ``offered_to`` compares deadlines on the database clock, so an offer past
    its deadline is gone from the page whether or not a sweep has run.
    """
    rows = list(
        with_clock(StockRequest.objects.offered_to(driver))
        .select_related("dbs")
        .order_by("assignment_expires_at")
    )
    for row in rows:
        row.seconds_left = seconds_left(row)  # type: ignore[attr-defined]
    return rows


def _recent_events(**filters: Any) -> QuerySet[AssignmentEvent]:
    return AssignmentEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(StockRequest),
        created_at__gte=deadline_in(-NOTICE_WINDOW.total_seconds()),
        **filters,
    ).order_by("-id")


def board_notices(dbs: DBS) -> list[Notice]:
    """Recent expired and rejected offers of ``dbs``'s requests, newest first.

    An offer of an auto-dispatch chain is left out (the chain offers the
    request to the next driver); the chain's exhaustion is shown instead.

    Worded as the push notifications are (``logistics.notifications``), so the
    board and the phone say the same thing.
    """
    from logistics import notifications as texts

    keys = StockRequest.objects.filter(dbs=dbs).values(
        key=Cast("pk", output_field=CharField())
    )
    events = list(
        _recent_events(
            kind__in=[EventKind.EXPIRED, EventKind.REJECTED, EventKind.EXHAUSTED],
            object_pk__in=keys,
        )[: NOTICE_LIMIT * 4]
    )
    # In auto mode the chain moves on by itself: only its exhaustion is news.
    spoken = spoken_for(e for e in events if e.kind != EventKind.EXHAUSTED)
    events = [e for e in events if e.pk not in spoken][:NOTICE_LIMIT]
    drivers = Driver.objects.in_bulk(
        {int(e.assignee_pk) for e in events if e.assignee_pk}
    )
    notices = []
    for event in events:
        driver = drivers.get(int(event.assignee_pk)) if event.assignee_pk else None
        names = {
            "driver_name": driver.name if driver else "The driver",
            "dbs_name": dbs.name,
            "request_id": event.object_pk,
        }
        if event.kind in (EventKind.EXPIRED, EventKind.EXHAUSTED):
            title, body = texts.EXPIRED_TITLE, texts.EXPIRED_BODY
        else:
            title, body = texts.REJECTED_TITLE, texts.REJECTED_BODY
        text = body.format(**names)
        if event.reason and event.kind == EventKind.REJECTED:
            text = f"{text} Reason: {event.reason}"
        notices.append(
            Notice(
                event.pk,
                event.kind,
                int(event.object_pk),
                event.created_at,
                title,
                f"Request {event.object_pk}: {text}",
            )
        )
    return notices


def driver_notices(driver: Driver) -> list[Notice]:
    """The driver's recently expired offers, newest first."""
    events = _recent_events(kind=EventKind.EXPIRED, assignee_pk=str(driver.pk))
    return [
        Notice(
            event.pk,
            event.kind,
            int(event.object_pk),
            event.created_at,
            "Offer expired",
            f"Your offer for stock request {event.object_pk} expired before you "
            "accepted it.",
        )
        for event in events[:NOTICE_LIMIT]
    ]
