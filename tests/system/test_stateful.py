"""Scenario 5: a hypothesis state machine against the real lifecycle.

Random sequences of offer / accept / reject / expire / sweep and clock moves
run against ``tests.testapp.StockRequest`` on whichever database the suite
uses (SQLite, PostgreSQL, MariaDB). A plain Python model predicts every
outcome, and after every step the database must agree with it exactly (rows
and event history) and satisfy the invariants of DESIGN.md 1-3.

The database clock can not be frozen, so "time passes" is a move of one
stored deadline into the past (or back into the future), as ``make_due`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.exceptions import (
    AlreadyOffered,
    AlreadyTaken,
    InvalidArgument,
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
    OfferNotDue,
    TransitionError,
)
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from tests.system.invariants import violations
from tests.testapp.models import Driver, StockRequest

ROWS = 4
DRIVERS = 2


@dataclass
class Expected:
    """What one row must look like, and the events it must have, in order."""

    status: str = "PENDING"
    driver: int | None = None
    attempt: int = 0
    due: bool = False
    events: list[tuple[int, str, int | None]] = field(default_factory=list)

    def last_ended(self) -> tuple[int, str, int | None] | None:
        ended = [e for e in self.events if e[1] != "offered"]
        return ended[-1] if ended else None


class LifecycleMachine(RuleBasedStateMachine):
    """Drives the lifecycle and checks the database against a model of it."""

    @initialize()
    def start(self) -> None:
        AssignmentEvent.objects.all().delete()
        StockRequest.objects.all().delete()
        Driver.objects.all().delete()
        self.drivers = [Driver.objects.create(name=f"d{i}") for i in range(DRIVERS)]
        self.rows = [StockRequest.objects.create() for _ in range(ROWS)]
        self.expected = [Expected() for _ in range(ROWS)]
        self.forced = False

    # -- helpers --------------------------------------------------------------

    def _attempt_arg(self, row: Expected, choice: str) -> int | None:
        return {
            "none": None,
            "current": row.attempt,
            "stale": row.attempt - 1,
            "newer": row.attempt + 1,
        }[choice]

    def _expire_expected(self, row: Expected) -> None:
        row.events.append((row.attempt, "expired", row.driver))
        row.status, row.driver, row.due = "PENDING", None, False

    # -- rules ----------------------------------------------------------------

    @rule(i=st.integers(0, ROWS - 1), d=st.integers(0, DRIVERS - 1))
    def offer(self, i: int, d: int) -> None:
        row = self.expected[i]
        if row.status == "PENDING":
            StockRequest.objects.offer(
                self.rows[i].pk, self.drivers[d], assignment_mode="M"
            )
            row.attempt += 1
            row.status, row.driver, row.due = "ASSIGNING", d, False
            row.events.append((row.attempt, "offered", d))
        else:
            expected = AlreadyTaken if row.status == "ASSIGNED" else AlreadyOffered
            with pytest.raises(expected):
                StockRequest.objects.offer(self.rows[i].pk, self.drivers[d])

    @rule(
        i=st.integers(0, ROWS - 1),
        d=st.integers(0, DRIVERS - 1),
        kind=st.sampled_from(["accepted", "rejected"]),
        choice=st.sampled_from(["none", "current", "stale", "newer"]),
    )
    def answer(self, i: int, d: int, kind: str, choice: str) -> None:
        row = self.expected[i]
        attempt = self._attempt_arg(row, choice)
        call = (
            StockRequest.objects.accept
            if kind == "accepted"
            else StockRequest.objects.reject
        )
        live = (
            row.status == "ASSIGNING"
            and row.driver == d
            and not row.due
            and attempt in (None, row.attempt)
        )
        if attempt is not None and attempt < 1:
            with pytest.raises(InvalidArgument):
                call(self.rows[i].pk, self.drivers[d], attempt=attempt)
            return
        if live:
            call(self.rows[i].pk, self.drivers[d], attempt=attempt)
            row.events.append((row.attempt, kind, d))
            if kind == "accepted":
                row.status, row.due = "ASSIGNED", False
            else:
                row.status, row.driver = "PENDING", None
            return
        with pytest.raises(TransitionError) as caught:
            call(self.rows[i].pk, self.drivers[d], attempt=attempt)
        if row.status == "ASSIGNING":
            if row.driver != d:
                assert type(caught.value) is NotOfferedToYou
            elif attempt is not None and attempt < row.attempt:
                assert type(caught.value) is OfferExpired
            elif attempt is not None and attempt > row.attempt:
                assert type(caught.value) is NoActiveOffer
            else:
                # Lazy expiry: the refused answer ended the due offer itself.
                assert type(caught.value) is OfferExpired
                self._expire_expected(row)
        elif row.status == "ASSIGNED":
            assert type(caught.value) is AlreadyTaken
        else:
            last = row.last_ended()
            mine = (
                last is not None
                and last[1] == "expired"
                and last[2] == d
                and attempt in (None, last[0])
            )
            assert type(caught.value) is (OfferExpired if mine else NoActiveOffer)

    @rule(
        i=st.integers(0, ROWS - 1),
        force=st.booleans(),
        choice=st.sampled_from(["none", "current", "stale", "newer"]),
    )
    def expire(self, i: int, force: bool, choice: str) -> None:
        row = self.expected[i]
        attempt = self._attempt_arg(row, choice)
        if attempt is not None and attempt < 1:
            with pytest.raises(InvalidArgument):
                StockRequest.objects.expire(
                    self.rows[i].pk, attempt=attempt, force=force
                )
            return
        open_offer = row.status == "ASSIGNING" and attempt in (None, row.attempt)
        if open_offer and (force or row.due):
            StockRequest.objects.expire(self.rows[i].pk, attempt=attempt, force=force)
            self.forced = self.forced or (force and not row.due)
            self._expire_expected(row)
            return
        with pytest.raises(TransitionError) as caught:
            StockRequest.objects.expire(self.rows[i].pk, attempt=attempt, force=force)
        if open_offer:
            assert type(caught.value) is OfferNotDue
        elif row.status == "ASSIGNED":
            assert type(caught.value) is AlreadyTaken
        else:
            assert type(caught.value) is NoActiveOffer

    @rule(batch_size=st.integers(1, 3))
    def sweep_all(self, batch_size: int) -> None:
        due = [row for row in self.expected if row.status == "ASSIGNING" and row.due]
        result = sweep([StockRequest], batch_size=batch_size)
        assert result.expired_count == len(due)
        assert not result.has_more
        for row in due:
            self._expire_expected(row)

    @precondition(lambda self: any(row.status == "ASSIGNING" for row in self.expected))
    @rule(i=st.integers(0, ROWS - 1), due=st.booleans())
    def move_clock(self, i: int, due: bool) -> None:
        row = self.expected[i]
        if row.status != "ASSIGNING":
            return
        # The deadline moves on the database clock: one second ago, or the
        # full timeout ahead again.
        StockRequest.objects.filter(pk=self.rows[i].pk).update(
            assignment_expires_at=deadline_in(-1 if due else 300)
        )
        row.due = due

    # -- checks after every step ------------------------------------------------

    @invariant()
    def database_matches_model(self) -> None:
        if not hasattr(self, "rows"):
            return
        pks = [r.pk for r in self.rows]
        actual = {
            pk: (status, driver, attempt, mode)
            for pk, status, driver, attempt, mode in StockRequest.objects.filter(
                pk__in=pks
            ).values_list(
                "pk", "status", "target_driver", "assignment_attempt", "assignment_mode"
            )
        }
        driver_index = {d.pk: n for n, d in enumerate(self.drivers)}
        for pk, row in zip(pks, self.expected, strict=True):
            status, driver, attempt, mode = actual[pk]
            assert (status, driver_index.get(driver), attempt) == (
                row.status,
                row.driver,
                row.attempt,
            ), f"row {pk}"
            assert (mode is None) == (row.status == "PENDING"), (
                f"row {pk} mode {mode!r}"
            )
            events = [
                (a, kind, driver_index.get(int(p)) if p is not None else None)
                for a, kind, p in AssignmentEvent.objects.filter(object_pk=str(pk))
                .order_by("id")
                .values_list("attempt", "kind", "assignee_pk")
            ]
            assert events == row.events, f"row {pk}"

    @invariant()
    def lifecycle_invariants(self) -> None:
        if hasattr(self, "rows"):
            assert (
                violations(StockRequest, forced=self.forced, offer_deadlines=False)
                == []
            )


@pytest.mark.django_db(transaction=True)
def test_lifecycle_state_machine():
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
