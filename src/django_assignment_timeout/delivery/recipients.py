"""The per-recipient rules of the relay: whom a try sends to, what it writes.

A (backend alias, recipient key) pair is one recipient through one backend.
An event with no row (:class:`~django_assignment_timeout.recipient_delivery.RecipientDelivery`)
in ``retry`` or ``dead`` is sent to everyone its notifications name (a
first try, or an event from before per-recipient state). Otherwise a try
sends only to its pairs in ``retry``, matched by recipient key in the
notifications built for this try (their content may have changed since).

After a try, only pairs that did not succeed get a row (a clean first
delivery writes nothing, nor does a first try that reached nobody); a pair owed from before is marked delivered when it
got through, and its row is dropped when the event no longer names that
recipient (or that backend is gone): nobody is left to tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from django.db import connections

from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.notifiers.base import Status, recipient_key
from django_assignment_timeout.recipient_delivery import (
    RecipientDelivery,
    RecipientState,
    stored_key,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from django_assignment_timeout.events import AssignmentEvent
    from django_assignment_timeout.notifiers.base import Notification

__all__ = [
    "STATE_OF",
    "Answer",
    "Ledger",
    "Pair",
    "key_of",
    "load_ledgers",
    "narrow",
    "write",
]

#: (backend alias, stored recipient key).
Pair = tuple[str, str]

#: The row state a recipient's result leaves (SENT leaves none on a first try).
STATE_OF = {
    Status.SENT: RecipientState.DELIVERED,
    Status.RETRY: RecipientState.RETRY,
    Status.FAILED: RecipientState.DEAD,
    Status.INVALID_RECIPIENT: RecipientState.INVALID,
    # An offer that ended before it was announced: nothing is owed.
    Status.EXPIRED: RecipientState.DELIVERED,
}


@dataclass
class Ledger:
    """One event's open rows as the try found them: pairs owed, pairs given up on."""

    #: Pair -> (row id, failed tries so far), for rows in ``retry``.
    owed: dict[Pair, tuple[int, int]] = field(default_factory=dict)
    #: Pair -> row id, for rows in ``dead`` (a try does not send to them).
    dead: dict[Pair, int] = field(default_factory=dict)

    def failures(self, pair: Pair) -> int:
        """Failed tries of ``pair`` before this one."""
        return self.owed.get(pair, (0, 0))[1]


def key_of(recipient: Any) -> str:
    """A recipient's key as rows store it."""
    return stored_key(recipient_key(recipient))


def load_ledgers(events: Sequence[AssignmentEvent], using: str) -> dict[int, Ledger]:
    """The open rows of ``events``, one query; events without any are absent."""
    ledgers: dict[int, Ledger] = {}
    rows = (
        RecipientDelivery.objects.using(using)
        .filter(
            event_id__in=[e.pk for e in events],
            state__in=[RecipientState.RETRY, RecipientState.DEAD],
        )
        .values_list("pk", "event_id", "backend", "recipient_key", "state", "failures")
    )
    for pk, event_id, backend, key, state, failures in rows:
        ledger = ledgers.setdefault(event_id, Ledger())
        if state == RecipientState.RETRY:
            ledger.owed[(backend, key)] = (pk, failures)
        else:
            ledger.dead[(backend, key)] = pk
    return ledgers


def narrow(
    notifications: Sequence[Notification], alias: str, ledgers: dict[int, Ledger]
) -> list[Notification]:
    """What backend ``alias`` sends this try: a retried event to those it owes only."""
    chosen = []
    for n in notifications:
        ledger = ledgers.get(n.event_id or 0)
        if ledger is None:
            chosen.append(n)
            continue
        keep = tuple(r for r in n.recipients if (alias, key_of(r)) in ledger.owed)
        if keep:
            chosen.append(replace(n, recipients=keep))
    return chosen


@dataclass
class Answer:
    """What a try leaves for one pair: a row state, or None to drop its row."""

    state: RecipientState | None
    error: str = ""


def write(
    outcomes: Iterable[tuple[int, dict[Pair, Answer], Ledger]], using: str
) -> None:
    """Write the rows of (event id, answers, ledger) in the caller's transaction.

    The caller passes only events whose own record won its fence.

    Failures are upserted (another relay may have written the same pair after
    our lease ran out); pairs owed before that got through are marked
    delivered in one UPDATE; dropped pairs are deleted in one DELETE.
    """
    upserts: list[RecipientDelivery] = []
    recovered: list[int] = []
    dropped: list[int] = []
    for event_id, answers, ledger in outcomes:
        for pair, answer in answers.items():
            row = ledger.owed.get(pair)
            if answer.state is None:
                dropped.append(ledger.owed[pair][0])  # only owed pairs are dropped
            elif answer.state == RecipientState.DELIVERED:
                if row is not None:
                    recovered.append(row[0])
            else:
                upserts.append(
                    RecipientDelivery(
                        event_id=event_id,
                        backend=pair[0],
                        recipient_key=pair[1],
                        state=answer.state,
                        failures=ledger.failures(pair) + 1,
                        last_error=answer.error,
                        updated_at=DatabaseNow(),
                    )
                )
    rows = RecipientDelivery.objects.using(using)
    if upserts:
        features = connections[using].features
        # MySQL and MariaDB upsert on any unique key and refuse to be told which.
        target = (
            ["event", "recipient_key", "backend"]
            if features.supports_update_conflicts_with_target
            else None
        )
        rows.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=target,
            update_fields=["state", "failures", "last_error", "updated_at"],
        )
    if recovered:
        rows.filter(pk__in=recovered).update(
            state=RecipientState.DELIVERED, last_error="", updated_at=DatabaseNow()
        )
    if dropped:
        rows.filter(pk__in=dropped).delete()
