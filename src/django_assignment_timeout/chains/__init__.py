"""Dispatch chains: offer an assignment to candidate after candidate, once per step.

The policy is declared per model (:mod:`django_assignment_timeout.policies`);
:func:`start_dispatch` makes the first offer and the relay takes every later
step from the event outbox (:mod:`.steps`).
"""

from __future__ import annotations

from django_assignment_timeout.chains.candidates import eligible_candidates
from django_assignment_timeout.chains.steps import (
    advance,
    advance_chains,
    running_chain,
    start_dispatch,
    stop_dispatch,
)

__all__ = [
    "advance",
    "advance_chains",
    "eligible_candidates",
    "running_chain",
    "start_dispatch",
    "stop_dispatch",
]
