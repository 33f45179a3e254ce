"""Dispatch policies: how a chain picks the next candidate, declared per model.

A model names its policy in ``AssignmentMeta``::

    from django_assignment_timeout.policies import Sequential

    class AssignmentMeta:
        ...
        dispatch = Sequential(
            candidates="dispatch_candidates", order="round_robin", max_attempts=3
        )

or, to offer it to several candidates at once (the first to accept wins)::

        dispatch = Broadcast(candidates="dispatch_candidates", size=3, max_rounds=2)

Declaring a policy changes nothing until a chain is started
(:func:`django_assignment_timeout.chains.start_dispatch`): a model with a
policy is still offered by hand as before. The declaration is read, never
validated, here: system checks E090-E095 report mistakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

__all__ = ["ORDERS", "Broadcast", "Sequential"]

#: The orderings a policy can ask for.
#:
#: * ``given``: the order the candidates method returns;
#: * ``round_robin``: the candidate a chain of this model offered work to least
#:   recently first (never offered: first of all, in the given order);
#: * ``least_loaded``: the candidate holding the fewest open offers or accepted
#:   assignments of this model first (ties in the given order).
ORDERS = ("given", "round_robin", "least_loaded")


class _ChainDeadline:
    """What both policies share: the overall deadline, read in seconds."""

    deadline: float | int | timedelta | None

    @property
    def deadline_seconds(self) -> float | None:
        """The overall deadline in seconds, or None."""
        if isinstance(self.deadline, timedelta):
            return self.deadline.total_seconds()
        return None if self.deadline is None else float(self.deadline)


@dataclass(frozen=True)
class Sequential(_ChainDeadline):
    """Offer to one candidate at a time; on reject or expiry, the next one.

    ``candidates`` names a method of the model that returns the assignees to
    consider for this assignment, best first (a queryset or any iterable of
    instances or keys). Anyone who already rejected this assignment or let an
    offer of it expire is skipped. The chain is *exhausted* when no candidate
    is left, after ``max_attempts`` offers, or once ``deadline`` (seconds or
    a timedelta from the chain's start) has passed: the assignment stays
    pending and an ``exhausted`` event tells the dispatcher.

    ``offer_values`` are other fields every offer of the chain sets, as the
    ``values`` of :func:`~django_assignment_timeout.lifecycle.offer` (GTS:
    ``{"assignment_mode": "AUTO"}``).
    """

    candidates: str
    order: str = "given"
    max_attempts: int | None = None
    deadline: float | int | timedelta | None = None
    offer_values: Mapping[str, Any] = field(default_factory=dict)

    strategy = "sequential"


@dataclass(frozen=True)
class Broadcast(_ChainDeadline):
    """Offer to up to ``size`` candidates at once; the first to accept wins.

    Each round is one offer (one attempt, one deadline) made to several
    candidates, each with an ``offered`` event of their own. The first accept
    takes the assignment and ends every other candidate's offer in the same
    transaction (a ``taken`` event each; their late accepts raise
    :class:`~django_assignment_timeout.exceptions.AlreadyTaken`). A decline
    ends only that candidate's offer; when all of a round's candidates
    declined, or its deadline passed, the next round goes to the next
    ``size`` candidates, skipping everyone offered it before.

    ``candidates``, ``order``, ``deadline`` and ``offer_values`` are as for
    :class:`Sequential`; ``max_rounds`` limits the rounds as ``max_attempts``
    limits a sequential chain's offers.

    A round's row has no assignee while it is open, so what reads the
    assignee sees nobody: ``assignment_offered`` is sent once per candidate,
    but a reminder or an extension of a round notifies nobody, and
    ``least_loaded`` does not count open rounds. The round's timeout is the
    model's, resolved without an assignee.
    """

    candidates: str
    size: int = 3
    order: str = "given"
    max_rounds: int | None = None
    deadline: float | int | timedelta | None = None
    offer_values: Mapping[str, Any] = field(default_factory=dict)

    strategy = "broadcast"

    @property
    def max_attempts(self) -> int | None:
        """Each round is one attempt: the chain's step reads the same limit."""
        return self.max_rounds
