"""Signal receivers that feed :mod:`.instruments`: the least coupling to the core.

The lifecycle and the sweep already announce every committed transition
(``assignment_offered`` / ``accepted`` / ``rejected`` / ``expired`` /
``withdrawn`` / ``extended``, after commit), and the relay announces each notifier call's results
(``notifications_sent``), so metrics need no hook of their own in the core.
:func:`connect` is called by :func:`django_assignment_timeout.metrics.install`.

A receiver's failure is logged here and never reaches the transition, the
sweep or the relay (the signals are sent with ``send_robust`` too).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import router

from django_assignment_timeout import signals
from django_assignment_timeout.clock import database_now
from django_assignment_timeout.metrics.instruments import (
    EVENTS,
    LATENESS,
    NOTIFICATIONS,
)

__all__ = [
    "RECEIVERS",
    "connect",
    "count_answer",
    "count_change",
    "count_expired",
    "count_notifications",
    "count_offer",
    "disconnect",
]

logger = logging.getLogger("django_assignment_timeout.metrics")

Receiver = Callable[..., None]


def _logged(receiver: Receiver) -> Receiver:
    """Log a receiver's failure instead of raising it: metrics never fail work."""

    @functools.wraps(receiver)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            receiver(*args, **kwargs)
        except Exception:
            logger.exception("Recording a metric failed (%s)", receiver.__name__)

    return wrapper


def _label(sender: Any) -> str:
    return str(sender._meta.label)


@_logged
def count_offer(sender: Any, **kwargs: Any) -> None:
    """``assignment_offered``: one ``offered`` event."""
    EVENTS.labels(model=_label(sender), kind="offered").inc()


@_logged
def count_answer(sender: Any, signal: Any = None, **kwargs: Any) -> None:
    """``assignment_accepted`` / ``assignment_rejected``: one event of that kind."""
    kind = "accepted" if signal is signals.assignment_accepted else "rejected"
    EVENTS.labels(model=_label(sender), kind=kind).inc()


@_logged
def count_change(sender: Any, signal: Any = None, **kwargs: Any) -> None:
    """``assignment_withdrawn`` / ``assignment_extended``: one event of that kind."""
    kind = "withdrawn" if signal is signals.assignment_withdrawn else "extended"
    EVENTS.labels(model=_label(sender), kind=kind).inc()


@_logged
def count_expired(
    sender: Any, expired: list[signals.ExpiredOffer] | None = None, **kwargs: Any
) -> None:
    """``assignment_expired``: one ``expired`` event each, and each one's lateness.

    Lateness is the database clock, read once per committed batch just after
    its commit, minus each deadline: both on the database clock, so an
    application server's skewed clock does not distort it, and it overstates
    the true figure only by the commit's own latency. Offers ended before
    their deadline (``expire(force=True)``) were not late and are not observed.
    """
    expired = expired or []
    if not expired:
        return
    label = _label(sender)
    EVENTS.labels(model=label, kind="expired").inc(len(expired))
    now = database_now(router.db_for_write(sender))
    histogram = LATENESS.labels(model=label)
    for offer in expired:
        if offer.deadline is not None and offer.deadline <= now:
            histogram.observe((now - offer.deadline).total_seconds())


@_logged
def count_notifications(
    sender: Any, notifier: str = "", results: list[Any] | None = None, **kwargs: Any
) -> None:
    """``notifications_sent``: one per recipient result, by backend, result and code."""
    counts: dict[tuple[str, str], int] = {}
    for result in results or []:
        status = getattr(result.status, "value", result.status)
        key = (str(status), str(result.code or ""))
        counts[key] = counts.get(key, 0) + 1
    for (status, code), count in counts.items():
        NOTIFICATIONS.labels(backend=notifier, result=status, code=code).inc(count)


#: (signal, receiver, dispatch_uid) of every connection :func:`connect` makes.
RECEIVERS: tuple[tuple[Any, Receiver, str], ...] = (
    (signals.assignment_offered, count_offer, "assignment_timeout.metrics.offered"),
    (signals.assignment_accepted, count_answer, "assignment_timeout.metrics.accepted"),
    (signals.assignment_rejected, count_answer, "assignment_timeout.metrics.rejected"),
    (signals.assignment_expired, count_expired, "assignment_timeout.metrics.expired"),
    (
        signals.assignment_withdrawn,
        count_change,
        "assignment_timeout.metrics.withdrawn",
    ),
    (
        signals.assignment_extended,
        count_change,
        "assignment_timeout.metrics.extended",
    ),
    (
        signals.notifications_sent,
        count_notifications,
        "assignment_timeout.metrics.notifications",
    ),
)


def connect() -> None:
    """Connect every receiver (idempotent: each has a ``dispatch_uid``)."""
    for signal, receiver, uid in RECEIVERS:
        signal.connect(receiver, dispatch_uid=uid, weak=False)


def disconnect() -> None:
    """Disconnect every receiver :func:`connect` connected."""
    for signal, receiver, uid in RECEIVERS:
        signal.disconnect(receiver, dispatch_uid=uid)
