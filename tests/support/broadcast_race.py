"""Broadcast rounds raced by all their candidates at once: the race test's and the bench's harness.

Each round offers one ``Load`` to ten drivers (the test app's broadcast
policy, widened to ten); one thread per driver, each on its own database
connection, accepts every round the moment a barrier lets all ten go. The
checker reads what the accepts returned and what the database holds: one
winner per round, nine typed refusals, nine ``taken`` events, and the
lifecycle invariants (:func:`tests.system.invariants.violations`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.utils import timezone

from django_assignment_timeout import lifecycle
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import AlreadyTaken, TransitionError
from django_assignment_timeout.options import options_for
from tests.system.invariants import violations
from tests.testapp.models import Driver, Load

CANDIDATES = 10
POOL = "race-"
WAIT = 60  # seconds: a bound for one barrier, never reached when all is well


@dataclass
class Race:
    """What the accepts of a race returned."""

    pks: list[int]
    winners: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    refusals: Counter[str] = field(default_factory=Counter)
    errors: list[BaseException] = field(default_factory=list)


@contextlib.contextmanager
def rounds_of(size: int = CANDIDATES) -> Iterator[None]:
    """Make ``Load``'s broadcast rounds ``size`` candidates wide, for a while."""
    opts = options_for(Load)
    widened = dataclasses.replace(
        opts, dispatch=dataclasses.replace(opts.dispatch, size=size)
    )
    Load._assignment_options = widened  # type: ignore[attr-defined]
    try:
        yield
    finally:
        Load._assignment_options = opts  # type: ignore[attr-defined]


def drivers() -> list[Driver]:
    """The race's candidates (made once)."""
    have = list(Driver.objects.filter(name__startswith=POOL).order_by("pk"))
    if len(have) < CANDIDATES:
        Driver.objects.bulk_create(
            Driver(name=f"{POOL}{i}") for i in range(len(have), CANDIDATES)
        )
        have = list(Driver.objects.filter(name__startswith=POOL).order_by("pk"))
    return have


def open_rounds(count: int) -> list[int]:
    """``count`` loads, each offered to all the race's candidates at once."""
    pks = []
    for _ in range(count):
        load = Load.objects.create(pool=POOL)
        load.start_dispatch()
        pks.append(load.pk)
    return pks


def library_accept(pk: int, driver_pk: int) -> None:
    lifecycle.accept(Load, pk, driver_pk, attempt=1)


def naive_accept(pk: int, driver_pk: int) -> None:
    """The hand-built way: read the row, check in Python, save()."""
    row = Load.objects.get(pk=pk)
    if row.status != "offered" or row.assignment_expires_at <= timezone.now():
        raise AlreadyTaken(pk=pk)
    row.status, row.assignee_id, row.assignment_expires_at = "accepted", driver_pk, None
    row.save()


def race_rounds(
    count: int, accept: Callable[[int, int], Any], *, batch: int = 100
) -> Race:
    """Open and race ``count`` rounds, ``batch`` at a time (so none expires unraced)."""
    candidates = drivers()
    total = Race([])
    with rounds_of(len(candidates)):
        for done in range(0, count, batch):
            result = race(open_rounds(min(batch, count - done)), candidates, accept)
            total.pks += result.pks
            total.winners.update(result.winners)
            total.refusals.update(result.refusals)
            total.errors += result.errors
    return total


def race(
    pks: list[int], candidates: list[Driver], accept: Callable[[int, int], Any]
) -> Race:
    """Every candidate accepts each round at the same moment, round after round."""
    result = Race(list(pks))
    start = threading.Barrier(len(candidates))
    lock = threading.Lock()

    def accepter(driver_pk: int) -> None:
        try:
            for pk in pks:
                start.wait(WAIT)
                try:
                    accept(pk, driver_pk)
                except TransitionError as refused:
                    with lock:
                        result.refusals[type(refused).__name__] += 1
                else:
                    with lock:
                        result.winners[pk].append(driver_pk)
        except BaseException as err:  # reported by the checker
            start.abort()
            result.errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accepter, args=(d.pk,)) for d in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * (len(pks) + 1))
    return result


def double_wins(result: Race) -> list[str]:
    """Every breach: rounds with other than one winner, refusals of the wrong
    type, and a database that disagrees with the winners."""
    found = [f"error: {err!r}" for err in result.errors]
    rows = dict(Load.objects.filter(pk__in=result.pks).values_list("pk", "assignee_id"))
    accepted: dict[str, list[str | None]] = defaultdict(list)
    taken: Counter[str] = Counter()
    for object_pk, kind, assignee in AssignmentEvent.objects.filter(
        object_pk__in=[str(pk) for pk in result.pks],
        content_type__model="load",
        kind__in=("accepted", "taken"),
    ).values_list("object_pk", "kind", "assignee_pk"):
        if kind == "accepted":
            accepted[object_pk].append(assignee)
        else:
            taken[object_pk] += 1
    for pk in result.pks:
        winners = result.winners.get(pk, [])
        if len(winners) != 1:
            found.append(f"{pk}: {len(winners)} winners {winners}")
            continue
        (winner,) = winners
        if rows.get(pk) != winner or accepted[str(pk)] != [str(winner)]:
            found.append(
                f"{pk}: won by {winner}, row {rows.get(pk)}, events {accepted[str(pk)]}"
            )
        if taken[str(pk)] != CANDIDATES - 1:
            found.append(f"{pk}: {taken[str(pk)]} offers taken")
    wrong = {k: n for k, n in result.refusals.items() if k != "AlreadyTaken"}
    if wrong:
        found.append(f"refusals other than AlreadyTaken: {wrong}")
    return found + violations(Load)
