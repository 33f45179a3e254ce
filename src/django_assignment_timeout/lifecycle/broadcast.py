"""Broadcast rounds: one offer made to several candidates at once; the first accept wins.

A round is one attempt of the assignment row: offered, with one deadline on
the database clock, and no assignee. Each candidate's own offer is an
``offered`` event of that attempt, numbered by ``sequence`` (1, 2, …): the
per-candidate offer rows, kept by retention while the attempt is open. So
every guarantee of a single offer holds for a round: its deadline is lazy
(an answer after it expires the round instead), an answer can be pinned to
its attempt, and each step writes each of its events once (the events'
unique key includes ``sequence``).

Every answer to a round first writes to the row (a no-op UPDATE): that
locks it on every backend, so the answers of one round queue, and each one
decides on what the one before it committed:

* the first accept takes the row (accepted, its assignee) and ends every
  other candidate's offer in the same transaction with a ``taken`` event;
  an accept after it finds the row taken and raises :class:`.AlreadyTaken`;
* a decline ends only that candidate's offer; the last open one's decline
  ends the round (the row is pending again, as after a single decline).

Rows whose offer names an assignee (offered by hand) are answered the
single-assignee way: :func:`answer_round` returns None for them.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import BooleanField, Case, Count, F, Value, When

from django_assignment_timeout.after_commit import after_answer, after_round
from django_assignment_timeout.clock import DatabaseNow, database_now, deadline_in
from django_assignment_timeout.events import AssignmentEvent, EventKind
from django_assignment_timeout.exceptions import (
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
    TransitionError,
)
from django_assignment_timeout.lifecycle.ending import expire_quietly
from django_assignment_timeout.lifecycle.refusals import why_not_pending
from django_assignment_timeout.lifecycle.writes import (
    content_type_pk,
    transition_atomic,
)
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    AssignmentOptions,
    options_for,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.db import models

__all__ = ["answer_round", "open_round", "round_events"]


def open_round(
    model: type[models.Model],
    row: models.Model,
    keys: Sequence[Any],
    *,
    after_attempt: int,
    using: str,
    values: dict[str, Any],
) -> list[AssignmentEvent]:
    """Offer pending ``row`` to every assignee key of ``keys`` at once, as one attempt.

    Conditional on the row still being pending at ``after_attempt``, like
    ``offer(after_attempt=...)``; raises what :func:`.offer` raises when it
    is not. Returns the ``offered`` events, one per candidate, in order. The
    round's timeout is the model's, resolved without an assignee (a callable
    timeout gets ``None``).
    """
    opts = options_for(model)
    seconds = opts.timeout_seconds(row, None)
    rows = model._base_manager.using(using).filter(
        pk=row.pk, **{opts.status_attname: opts.pending, ATTEMPT: after_attempt}
    )
    with transition_atomic(using):
        changed = rows.update(
            **values,
            **{
                opts.status_attname: opts.offered,
                opts.assignee_attname: None,
                STARTED_AT: DatabaseNow(),
                EXPIRES_AT: deadline_in(seconds),
                ATTEMPT: F(ATTEMPT) + 1,
            },
        )
        if changed:
            attempt, deadline = (
                model._base_manager.using(using)
                .filter(pk=row.pk)
                .values_list(ATTEMPT, EXPIRES_AT)
                .get()
            )
            content_type = content_type_pk(model, using)
            AssignmentEvent.objects.using(using).bulk_create(
                AssignmentEvent(
                    content_type_id=content_type,
                    object_pk=str(row.pk),
                    attempt=attempt,
                    kind=EventKind.OFFERED,
                    assignee_pk=str(key),
                    deadline=deadline,
                    sequence=sequence,
                )
                for sequence, key in enumerate(keys, start=1)
            )
            # Read back: MySQL and MariaDB return no keys from a bulk insert.
            events = list(
                round_events(content_type, row.pk, attempt, using)
                .filter(kind=EventKind.OFFERED)
                .order_by("sequence")
            )
            transaction.on_commit(
                partial(
                    after_round, model, row.pk, attempt, deadline, list(keys), events
                ),
                using=using,
                robust=True,
            )
            return events
    raise why_not_pending(model, opts, row.pk, keys[0], using, after_attempt)


def answer_round(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str,
    *,
    kind: str,
    reason: str = "",
) -> AssignmentEvent | None:
    """Accept or decline the live broadcast round of ``pk`` as ``assignee_pk``.

    None when ``pk`` holds no live round (the caller answers the
    single-assignee way, which also names the refusal of a row that is not
    offered). Raises :class:`.NotOfferedToYou` for someone the round was not
    offered to, :class:`.NoActiveOffer` for someone who already declined it
    or an attempt never made, and :class:`.OfferExpired` for an earlier
    round or a round past its deadline (which is then expired).
    """
    rows = model._base_manager.using(using).filter(
        pk=pk,
        **{opts.status_attname: opts.offered, f"{opts.assignee_attname}__isnull": True},
    )
    refusal: TransitionError | None = None
    due_attempt = None
    content_type = content_type_pk(model, using)
    with transition_atomic(using):
        # The write locks the row before anything is read (SQLite locks
        # nothing on a read): the answers of one round run one at a time.
        if not rows.update(**{ATTEMPT: F(ATTEMPT)}):
            return None
        current, due = (
            rows.annotate(
                _due=Case(
                    When(**{f"{EXPIRES_AT}__lte": DatabaseNow()}, then=Value(True)),
                    default=Value(False),
                    output_field=BooleanField(),
                )
            )
            .values_list(ATTEMPT, "_due")
            .get()
        )
        mine = dict(
            round_events(content_type, pk, current, using)
            .filter(assignee_pk=str(assignee_pk))
            .values_list("kind", "sequence")
        )
        if attempt is not None and attempt < current:
            refusal = OfferExpired(
                "That offer has ended; a newer offer was made.", pk=pk, attempt=attempt
            )
        elif attempt is not None and attempt > current:
            refusal = NoActiveOffer("No such offer was made.", pk=pk, attempt=attempt)
        elif EventKind.OFFERED not in mine:
            refusal = NotOfferedToYou(pk=pk, attempt=current)
        elif EventKind.REJECTED in mine:
            refusal = NoActiveOffer(
                "You have already declined this offer.", pk=pk, attempt=current
            )
        elif due:
            due_attempt = current
        else:
            event = _answer(
                model,
                opts,
                rows.filter(**{ATTEMPT: current}),
                pk,
                current,
                assignee_pk,
                mine[EventKind.OFFERED],
                content_type,
                using,
                kind=kind,
                reason=reason,
            )
            transaction.on_commit(
                partial(
                    after_answer,
                    model,
                    pk,
                    kind,
                    current,
                    assignee_pk,
                    reason,
                    event,
                ),
                using=using,
                robust=True,
            )
            return event
    if due_attempt is not None:
        expire_quietly(model, pk, due_attempt, using)
        refusal = OfferExpired(pk=pk, attempt=due_attempt)
    assert refusal is not None
    raise refusal


def round_events(
    content_type: int, pk: Any, attempt: int, using: str
) -> models.QuerySet[AssignmentEvent]:
    """The per-candidate events of one round: offers, declines, and offers taken."""
    return AssignmentEvent.objects.using(using).filter(
        content_type_id=content_type,
        object_pk=str(pk),
        attempt=attempt,
        kind__in=(EventKind.OFFERED, EventKind.REJECTED, EventKind.TAKEN),
    )


def _answer(
    model: type[models.Model],
    opts: AssignmentOptions,
    live: models.QuerySet[Any],
    pk: Any,
    attempt: int,
    assignee_pk: Any,
    sequence: int,
    content_type: int,
    using: str,
    *,
    kind: str,
    reason: str,
) -> AssignmentEvent:
    """Write one answer to a live round, not due, whose row this transaction holds."""
    events = AssignmentEvent.objects.using(using)
    # One reading of the clock decides the answer and stamps its event, as
    # for a single offer: "before the deadline" can be audited exactly.
    now = database_now(using)
    others = round_events(content_type, pk, attempt, using).exclude(
        assignee_pk=str(assignee_pk)
    )
    if kind == EventKind.ACCEPTED:
        taken = live.filter(**{f"{EXPIRES_AT}__gt": now}).update(
            **{
                opts.status_attname: opts.accepted,
                opts.assignee_attname: assignee_pk,
                EXPIRES_AT: None,
            }
        )
        if taken != 1:  # pragma: no cover - the row is locked and not due
            raise RuntimeError(f"{model._meta.label} {pk} changed under its lock.")
        gone = set(
            others.filter(kind=EventKind.REJECTED).values_list("assignee_pk", flat=True)
        )
        events.bulk_create(
            AssignmentEvent(
                content_type_id=content_type,
                object_pk=str(pk),
                attempt=attempt,
                kind=EventKind.TAKEN,
                assignee_pk=offer_pk,
                sequence=offer_sequence,
                created_at=now,
            )
            for offer_pk, offer_sequence in others.filter(
                kind=EventKind.OFFERED
            ).values_list("assignee_pk", "sequence")
            if offer_pk not in gone
        )
        return events.create(
            content_type_id=content_type,
            object_pk=str(pk),
            attempt=attempt,
            kind=EventKind.ACCEPTED,
            assignee_pk=str(assignee_pk),
            created_at=now,
        )
    declined = events.create(
        content_type_id=content_type,
        object_pk=str(pk),
        attempt=attempt,
        kind=EventKind.REJECTED,
        assignee_pk=str(assignee_pk),
        reason=reason,
        sequence=sequence,
        created_at=now,
    )
    counts = dict(
        others.filter(kind__in=(EventKind.OFFERED, EventKind.REJECTED))
        .order_by()
        .values("kind")
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    if counts.get(EventKind.OFFERED, 0) == counts.get(EventKind.REJECTED, 0):
        # Everyone declined: the round ends as a single offer's decline does.
        live.update(**opts.cleared_values(), **{opts.status_attname: opts.pending})
    return declined
