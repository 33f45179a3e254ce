"""The offer a chain's step makes next: to one candidate, or a broadcast round to several.

Called by :mod:`.steps` inside the step's transaction, with the chain row
locked: the offer is conditional on the assignment being pending at the
chain's attempt, and the chain's new attempt is written in the same
transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import F

from django_assignment_timeout import lifecycle
from django_assignment_timeout.chains.candidates import eligible_candidates
from django_assignment_timeout.dispatch_chain import (
    ChainEnd,
    DispatchChain,
    DispatchTurn,
)
from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.lifecycle.arguments import offer_values
from django_assignment_timeout.lifecycle.broadcast import open_round

if TYPE_CHECKING:
    from django.db import models

    from django_assignment_timeout.events import AssignmentEvent
    from django_assignment_timeout.options import AssignmentOptions

__all__ = ["offer_next"]


def offer_next(
    model: type[models.Model],
    opts: AssignmentOptions,
    chain: DispatchChain,
    row: models.Model,
    content_type: int,
    using: str,
    *,
    past_deadline: bool = False,
) -> AssignmentEvent | str:
    """Offer ``row`` to the next eligible candidate; the event, or why none was offered."""
    policy = opts.dispatch
    if past_deadline:
        return ChainEnd.DEADLINE
    if policy.max_attempts is not None and chain.offers >= policy.max_attempts:
        return ChainEnd.MAX_ATTEMPTS
    # Values the offer would refuse for every candidate are not a reason to
    # skip them all: the step fails, and is retried with its event.
    values = offer_values(opts, dict(policy.offer_values), using)
    if policy.strategy == "broadcast":
        return _open_round(model, opts, chain, row, content_type, using, values)
    for key in eligible_candidates(row, opts, content_type, using):
        try:
            event = lifecycle.offer(
                model,
                row.pk,
                key,
                after_attempt=chain.attempt,
                using=using,
                **values,
            )
        except InvalidArgument:
            continue  # that candidate is gone (or its timeout refused it)
        DispatchChain.objects.using(using).filter(pk=chain.pk).update(
            attempt=event.attempt, offers=F("offers") + 1
        )
        if policy.order == "round_robin":  # the only order that reads turns
            _take_turn(content_type, key, event.created_at, using)
        return event
    return ChainEnd.NO_CANDIDATES


def _open_round(
    model: type[models.Model],
    opts: AssignmentOptions,
    chain: DispatchChain,
    row: models.Model,
    content_type: int,
    using: str,
    values: dict[str, Any],
) -> AssignmentEvent | str:
    """Offer ``row`` to the next ``policy.size`` candidates at once; the first offer event."""
    policy = opts.dispatch
    keys = eligible_candidates(row, opts, content_type, using)[: policy.size]
    if not keys:
        return ChainEnd.NO_CANDIDATES
    events = open_round(
        model, row, keys, after_attempt=chain.attempt, using=using, values=values
    )
    DispatchChain.objects.using(using).filter(pk=chain.pk).update(
        attempt=events[0].attempt, offers=F("offers") + 1
    )
    if policy.order == "round_robin":
        for event in events:
            _take_turn(content_type, event.assignee_pk, event.created_at, using)
    return events[0]


def _take_turn(content_type: int, key: Any, at: Any, using: str) -> None:
    """Remember that ``key`` was just offered work, for the round-robin order."""
    features = connections[using].features
    DispatchTurn.objects.using(using).bulk_create(
        [
            DispatchTurn(
                content_type_id=content_type, assignee_pk=str(key), last_offered_at=at
            )
        ],
        update_conflicts=True,
        # MySQL and MariaDB take the conflict from any unique key.
        unique_fields=(
            ["content_type", "assignee_pk"]
            if features.supports_update_conflicts_with_target
            else None
        ),
        update_fields=["last_offered_at"],
    )
