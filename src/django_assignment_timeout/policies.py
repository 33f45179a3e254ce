"""Dispatch policies: how a chain picks the next candidate, declared per model.

A model names its policy in ``AssignmentMeta``::

    from django_assignment_timeout.policies import Sequential

    class AssignmentMeta:
        ...
        dispatch = Sequential(
            candidates="dispatch_candidates", order="round_robin", max_attempts=3
        )

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

__all__ = ["ORDERS", "Sequential"]

#: The orderings a policy can ask for.
#:
#: * ``given``: the order the candidates method returns;
#: * ``round_robin``: the candidate a chain of this model offered work to least
#:   recently first (never offered: first of all, in the given order);
#: * ``least_loaded``: the candidate holding the fewest open offers or accepted
#:   assignments of this model first (ties in the given order).
ORDERS = ("given", "round_robin", "least_loaded")


@dataclass(frozen=True)
class Sequential:
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

    @property
    def deadline_seconds(self) -> float | None:
        """The overall deadline in seconds, or None."""
        if isinstance(self.deadline, timedelta):
            return self.deadline.total_seconds()
        return None if self.deadline is None else float(self.deadline)
