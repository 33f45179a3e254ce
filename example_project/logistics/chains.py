"""Auto-dispatch as GTS shows it: each request's latest chain and its offers.

The library keeps one :class:`~django_assignment_timeout.dispatch_chain.DispatchChain`
row per chain (its state, first and latest attempt) and one event per offer
and per ending. This module joins the two for the API and the board, in a
constant number of queries for any number of requests, and answers the
question the notifications ask: does a chain speak for this offer, so that
the EIC hears only when the chain is exhausted?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout import TransitionError
from django_assignment_timeout.dispatch_chain import ChainState, DispatchChain
from django_assignment_timeout.models import AssignmentEvent, EventKind
from logistics.models import Driver, StockRequest

#: How an offer ended, as the API and the board name it.
OUTCOMES = {
    EventKind.ACCEPTED: "accepted",
    EventKind.REJECTED: "rejected",
    EventKind.EXPIRED: "expired",
    EventKind.WITHDRAWN: "withdrawn",
}
#: Chains that answer to the EIC for their offers: a running one moves on by
#: itself, an exhausted one sent its own notice, an accepted one needs none. A
#: stopped chain handed the request back, so its open offer is the EIC's.
SPEAKING_STATES = (ChainState.RUNNING, ChainState.EXHAUSTED, ChainState.ACCEPTED)


class NotDispatching(TransitionError):
    """Stop was asked for a request whose auto-dispatch is not running (HTTP 409).

    A :class:`~django_assignment_timeout.TransitionError`, so the API and the
    board show it as they show the library's own refusals.
    """

    http_status = 409
    code = "not_dispatching"
    default_message = "Auto-dispatch is not running for this stock request."


def stop(stock_request: StockRequest) -> None:
    """End the request's running chain; its open offer, if any, stays open.

    Raises :class:`NotDispatching` when no chain runs (never started, or it
    already ended: accepted, exhausted, stopped, or taken over by hand).
    """
    if not stock_request.stop_dispatch():
        raise NotDispatching(pk=stock_request.pk)


@dataclass(frozen=True)
class ChainOffer:
    """One offer a chain made: to whom, when, and how it ended (if it did)."""

    attempt: int
    driver: Driver | None
    offered_at: datetime
    deadline: datetime | None
    outcome: str = "pending"
    reason: str = ""
    ended_at: datetime | None = None


@dataclass(frozen=True)
class ChainView:
    """A request's latest dispatch chain, with its offers oldest first."""

    chain: DispatchChain
    offers: list[ChainOffer] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``running``, ``accepted``, ``exhausted`` or ``stopped``."""
        return str(self.chain.state)

    @property
    def holder(self) -> Driver | None:
        """The driver who holds the request now: an open or accepted offer's."""
        for offer in reversed(self.offers):
            if offer.outcome in ("pending", "accepted"):
                return offer.driver
        return None


def _content_type() -> ContentType:
    return ContentType.objects.get_for_model(StockRequest)


def latest_chains(requests: Iterable[StockRequest]) -> dict[int, ChainView]:
    """The latest chain of each of ``requests`` that has one, with its offers.

    Three queries whatever the number of requests: the chains, their events,
    the drivers named in them.
    """
    keys = {str(request.pk) for request in requests}
    if not keys:
        return {}
    content_type = _content_type()
    chains: dict[str, DispatchChain] = {}
    for chain in DispatchChain.objects.filter(
        content_type=content_type, object_pk__in=keys
    ).order_by("pk"):
        chains[chain.object_pk] = chain  # the later chain wins
    if not chains:
        return {}
    events = list(
        AssignmentEvent.objects.filter(
            content_type=content_type,
            object_pk__in=chains,
            kind__in=[EventKind.OFFERED, *OUTCOMES],
        ).order_by("attempt", "pk")
    )
    drivers = Driver.objects.in_bulk(
        {int(e.assignee_pk) for e in events if e.assignee_pk}
    )
    offers: dict[str, dict[int, ChainOffer]] = {key: {} for key in chains}
    for event in events:
        chain = chains[event.object_pk]
        if not chain.first_attempt <= event.attempt <= chain.attempt:
            continue  # an offer made before the chain, or by hand after it
        driver = drivers.get(int(event.assignee_pk)) if event.assignee_pk else None
        mine = offers[event.object_pk]
        if event.kind == EventKind.OFFERED:
            mine[event.attempt] = ChainOffer(
                event.attempt, driver, event.created_at, event.deadline
            )
        elif event.attempt in mine:
            offer = mine[event.attempt]
            mine[event.attempt] = ChainOffer(
                offer.attempt,
                offer.driver,
                offer.offered_at,
                offer.deadline,
                outcome=OUTCOMES[event.kind],
                reason=event.reason,
                ended_at=event.created_at,
            )
    return {
        int(key): ChainView(chain, list(offers[key].values()))
        for key, chain in chains.items()
    }


def latest_chain(stock_request: StockRequest) -> ChainView | None:
    """The request's latest chain with its offers, or None if it never had one."""
    return latest_chains([stock_request]).get(stock_request.pk)


def _speaking_chains(keys: Iterable[str]) -> Any:
    return DispatchChain.objects.filter(
        content_type=_content_type(),
        object_pk__in=set(keys),
        state__in=SPEAKING_STATES,
    )


def chain_speaks_for(stock_request: StockRequest, attempt: int) -> bool:
    """Whether offer ``attempt`` belongs to a chain that tells the EIC itself.

    Asked when an ending of that offer is delivered; the relay has taken the
    chain's step by then, so the chain's state is the step's outcome.
    """
    return (
        _speaking_chains([str(stock_request.pk)])
        .filter(first_attempt__lte=attempt, attempt__gte=attempt)
        .exists()
    )


def spoken_for(events: Iterable[AssignmentEvent]) -> set[int]:
    """The keys of ``events`` whose offer a chain answers for (one query).

    The board leaves these out of the EIC's notices, as the notifications do.
    """
    events = list(events)
    ranges: dict[str, list[tuple[int, int]]] = {}
    for key, first, last in _speaking_chains(e.object_pk for e in events).values_list(
        "object_pk", "first_attempt", "attempt"
    ):
        ranges.setdefault(key, []).append((first, last))
    return {
        event.pk
        for event in events
        if any(
            first <= event.attempt <= last
            for first, last in ranges.get(event.object_pk, ())
        )
    }
