"""The invariants of DESIGN.md 1-3, checked from what the database holds.

Every system test ends (and the stateful test checks after every step) by
reading the rows and their events back and listing what is wrong, so a
failure names each violation instead of stopping at the first.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, options_for

TERMINAL = ("accepted", "rejected", "expired", "withdrawn")


def violations(
    model: Any, *, forced: bool = False, offer_deadlines: bool = True
) -> list[str]:
    """Every breach of the lifecycle invariants among ``model``'s rows.

    * each attempt 1..N of a row has exactly one ``offered`` event and at most
      one terminal (accepted / rejected / expired / withdrawn) event:
      exactly-once expiry;
    * the row's state agrees with its current attempt's events: an open offer
      has no terminal event, an accepted row an ``accepted`` one, a pending
      row that was offered a ``rejected``, ``expired`` or ``withdrawn`` one;
    * nothing expired before its deadline (unless ``forced`` expiries are
      allowed) and, when ``offer_deadlines`` (nobody moved stored deadlines),
      nothing was accepted at or after the deadline of its offer (lazy
      expiry): the latest ``extended`` event's deadline, if any, else the
      ``offered`` one.
    """
    opts = options_for(model)
    content_type = ContentType.objects.get_for_model(model)
    found: list[str] = []
    events: dict[tuple[str, int], dict[str, list[Any]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (
        object_pk,
        attempt,
        kind,
        created_at,
        deadline,
    ) in AssignmentEvent.objects.filter(content_type=content_type).values_list(
        "object_pk", "attempt", "kind", "created_at", "deadline"
    ):
        events[(object_pk, attempt)][kind].append((created_at, deadline))
    rows = model._base_manager.values_list(
        "pk", opts.status_attname, ATTEMPT, EXPIRES_AT
    )
    seen = 0
    broadcast = getattr(opts.dispatch, "strategy", None) == "broadcast"
    for pk, status, current, expires_at in rows.iterator(chunk_size=5000):
        key = str(pk)
        for attempt in range(1, current + 1):
            seen += 1
            kinds = events.get((key, attempt), {})
            offered = len(kinds.get("offered", []))
            if offered != 1 and not (broadcast and offered > 1):
                found.append(f"{key}#{attempt}: {offered} offered events")
            terminal = _terminal(kinds, broadcast)
            if broadcast:
                found += _round_problems(f"{key}#{attempt}", kinds)
            if len(terminal) > 1 or (attempt < current and not terminal):
                found.append(f"{key}#{attempt}: terminal events {terminal}")
            for created_at, deadline in kinds.get("expired", []):
                if not forced and deadline is not None and created_at < deadline:
                    found.append(
                        f"{key}#{attempt}: expired at {created_at} before {deadline}"
                    )
            if offer_deadlines and kinds.get("accepted") and kinds.get("offered"):
                accepted_at = kinds["accepted"][0][0]
                # An extension moved the deadline; deadlines only grow.
                offer_deadline = max(
                    deadline
                    for _, deadline in kinds["offered"] + kinds.get("extended", [])
                )
                if accepted_at >= offer_deadline:
                    found.append(
                        f"{key}#{attempt}: accepted at {accepted_at}, "
                        f"after the deadline {offer_deadline}"
                    )
        last = events.get((key, current), {}) if current else {}
        last_terminal = sorted(set(_terminal(last, broadcast)), key=TERMINAL.index)
        if status == opts.offered:
            if last_terminal or expires_at is None:
                found.append(
                    f"{key}: offered but attempt {current} ended {last_terminal}"
                )
        elif status == opts.accepted:
            if last_terminal != ["accepted"]:
                found.append(
                    f"{key}: accepted but attempt {current} ended {last_terminal}"
                )
        elif (
            status == opts.pending
            and current
            and last_terminal
            not in (
                ["rejected"],
                ["expired"],
                ["withdrawn"],
            )
        ):
            found.append(f"{key}: pending but attempt {current} ended {last_terminal}")
    stray = len(events) - seen
    if stray:
        found.append(f"{stray} (assignment, attempt) pairs have events but no offer")
    return found


def _terminal(kinds: dict[str, list[Any]], broadcast: bool) -> list[str]:
    """The events that ended an attempt (one each).

    A broadcast round's declines end one candidate's offer each: the round
    ends with them only once every candidate declined.
    """
    if not broadcast:
        return [kind for kind in TERMINAL for _ in kinds.get(kind, [])]
    ended = [
        kind for kind in TERMINAL if kind != "rejected" for _ in kinds.get(kind, [])
    ]
    declined = len(kinds.get("rejected", []))
    if declined and declined == len(kinds.get("offered", [])):
        ended.append("rejected")
    return ended


def _round_problems(where: str, kinds: dict[str, list[Any]]) -> list[str]:
    """A broadcast round: every candidate's offer ends at most once, and the
    winner's accept ends each other open one with a ``taken`` event."""
    offered = len(kinds.get("offered", []))
    accepted = len(kinds.get("accepted", []))
    declined = len(kinds.get("rejected", []))
    taken = len(kinds.get("taken", []))
    if accepted + declined + taken > offered:
        return [f"{where}: {accepted + declined + taken} endings of {offered} offers"]
    if accepted and taken != offered - declined - 1:
        return [f"{where}: {taken} offers taken, {offered - declined - 1} were open"]
    if taken and not accepted:
        return [f"{where}: {taken} offers taken, none accepted"]
    return []
