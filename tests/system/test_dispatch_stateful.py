"""A hypothesis state machine over dispatch chains, against the real library.

Random sequences of start / stop a chain, offer by hand, accept, reject,
expire (forced too), extend, withdraw, deadlines passing, sweep and relay
run against ``tests.testapp.Job`` (a
``Sequential`` policy: the pool's drivers in key order, three offers at
most) and ``tests.testapp.Load`` (a ``Broadcast`` policy: rounds of three,
two rounds at most; any driver may answer) on whichever database the suite
uses. After every step the lifecycle
invariants of DESIGN.md 1-3 hold, and so do the chains':

* at most one running chain per assignment, never ahead of its row;
* a chain offers nobody twice, and nobody who already rejected the
  assignment or let an offer of it expire; at most ``max_attempts`` offers;
* every chain that ended by running out has exactly one ``exhausted`` event;
* once the relay has nothing left to deliver, no running chain is stuck:
  its row holds the chain's own open offer (no step skipped).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.dispatch_chain import ChainState, DispatchChain
from django_assignment_timeout.exceptions import (
    AlreadyDispatching,
    NoCandidate,
    TransitionError,
)
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.options import options_for
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.system.invariants import violations
from tests.testapp.models import Driver, Job, Load

ROWS = 3
DRIVERS = 4


class DispatchMachine(RuleBasedStateMachine):
    """Drives chains and hand transitions; checks what the database holds."""

    model: type[Job] | type[Load] = Job

    @initialize()
    def start(self) -> None:
        for model in (AssignmentEvent, DispatchChain, self.model, Driver):
            model._base_manager.all().delete()
        self.drivers = [Driver.objects.create(name=f"m-{i}") for i in range(DRIVERS)]
        self.jobs = [self.model.objects.create(pool="m-") for _ in range(ROWS)]

    def _job(self, i: int) -> Job | Load:
        return self.model.objects.get(pk=self.jobs[i].pk)

    # -- rules ----------------------------------------------------------------

    @rule(i=st.integers(0, ROWS - 1))
    def start_dispatch(self, i: int) -> None:
        job = self._job(i)
        try:
            job.start_dispatch()
        except AlreadyDispatching:
            assert job.dispatch_chains().filter(state=ChainState.RUNNING).exists()
        except NoCandidate:
            assert not job.dispatch_chains().filter(state=ChainState.RUNNING).exists()
        except TransitionError:
            assert job.status != "pending"

    @rule(i=st.integers(0, ROWS - 1))
    def stop_dispatch(self, i: int) -> None:
        self._job(i).stop_dispatch()

    @rule(i=st.integers(0, ROWS - 1), d=st.integers(0, DRIVERS - 1))
    def offer_by_hand(self, i: int, d: int) -> None:
        try:
            self.model.objects.offer(self.jobs[i].pk, self.drivers[d])
        except TransitionError:
            assert self._job(i).status != "pending"

    @rule(
        i=st.integers(0, ROWS - 1),
        kind=st.sampled_from(["accepted", "rejected"]),
        d=st.integers(0, DRIVERS - 1),
    )
    def answer(self, i: int, kind: str, d: int) -> None:
        job = self._job(i)
        if job.assignee_id is None and job.status != "offered":
            return
        # A single offer is answered by its assignee; a broadcast round (no
        # assignee) by any driver, refused unless the round was offered to them.
        who = job.assignee_id or self.drivers[d].pk
        manager = self.model.objects
        call = manager.accept if kind == "accepted" else manager.reject
        # Refused when due already: the refusal expired it.
        with contextlib.suppress(TransitionError):
            call(job.pk, who, attempt=job.assignment_attempt)

    @rule(i=st.integers(0, ROWS - 1), force=st.booleans())
    def expire(self, i: int, force: bool) -> None:
        with contextlib.suppress(TransitionError):
            self.model.objects.expire(self.jobs[i].pk, force=force)

    @rule(i=st.integers(0, ROWS - 1))
    def withdraw(self, i: int) -> None:
        with contextlib.suppress(TransitionError):
            self.model.objects.withdraw(self.jobs[i].pk, reason="test")

    @rule(i=st.integers(0, ROWS - 1), by=st.sampled_from([1, 30, 600]))
    def extend(self, i: int, by: int) -> None:
        with contextlib.suppress(TransitionError):
            self.model.objects.extend(self.jobs[i].pk, by=by)

    @rule(i=st.integers(0, ROWS - 1))
    def deadline_passes(self, i: int) -> None:
        make_due(self.model, self.jobs[i].pk)

    @rule()
    def sweep_all(self) -> None:
        sweep([self.model])

    @rule(batch_size=st.integers(1, 4))
    def relay(self, batch_size: int) -> None:
        deliver_pending(batch_size=batch_size)

    # -- checks after every step ------------------------------------------------

    @invariant()
    def lifecycle_invariants(self) -> None:
        if hasattr(self, "jobs"):
            # forced: the dispatcher may end an offer before its deadline.
            assert violations(self.model, forced=True, offer_deadlines=False) == []

    @invariant()
    def chain_invariants(self) -> None:
        if not hasattr(self, "jobs"):
            return
        events: dict[str, list[tuple[int, str, str | None]]] = defaultdict(list)
        for pk, attempt, kind, assignee in AssignmentEvent.objects.order_by(
            "pk"
        ).values_list("object_pk", "attempt", "kind", "assignee_pk"):
            events[pk].append((attempt, kind, assignee))
        rows = {str(j.pk): j for j in self.model.objects.all()}
        max_attempts = options_for(self.model).dispatch.max_attempts
        chains = DispatchChain.objects.order_by("pk")
        running = [c for c in chains if c.state == ChainState.RUNNING]
        assert len({c.object_pk for c in running}) == len(running)
        for chain in chains:
            row, history = rows[chain.object_pk], events[chain.object_pk]
            assert chain.offers <= max_attempts, chain
            assert chain.attempt <= row.assignment_attempt, chain
            spent: set[str | None] = set()
            offered_to = []
            for attempt, kind, assignee in history:
                in_chain = chain.first_attempt <= attempt <= chain.attempt
                if kind == "offered" and in_chain:
                    assert assignee not in spent, (chain, history)
                    offered_to.append(assignee)
                if kind in ("rejected", "expired"):
                    spent.add(assignee)
            assert len(offered_to) == len(set(offered_to)), (chain, history)
            exhausted = [
                e
                for e in history
                if e[1] == "exhausted"
                and chain.first_attempt - 1 <= e[0] <= chain.attempt
            ]
            if chain.state == ChainState.EXHAUSTED:
                assert len(exhausted) == 1, (chain, history)
        if not AssignmentEvent.objects.undelivered().exists():
            for chain in running:
                row = rows[chain.object_pk]
                assert (row.status, row.assignment_attempt) == (
                    "offered",
                    chain.attempt,
                ), (chain, events[chain.object_pk])


class BroadcastMachine(DispatchMachine):
    model = Load


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("machine", [DispatchMachine, BroadcastMachine])
def test_dispatch_state_machine(machine):
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
