"""Ending an open offer without an answer: expiry and withdrawal share one UPDATE.

:func:`.transitions.expire` and :func:`.transitions.withdraw` differ only in
the event they write (``expired`` or ``withdrawn``), in whether the deadline
must have passed (a withdrawal is forced) and in what is announced after the
commit. The UPDATE, its refusals and the row it leaves (pending, offer fields
cleared) are the same.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction

from django_assignment_timeout import signals
from django_assignment_timeout.after_commit import after_expiry, after_withdrawal
from django_assignment_timeout.events import EventKind
from django_assignment_timeout.exceptions import TransitionError
from django_assignment_timeout.lifecycle.refusals import why_not_expired
from django_assignment_timeout.lifecycle.statements import statements_for
from django_assignment_timeout.lifecycle.writes import (
    content_type_pk,
    transition_atomic,
)
from django_assignment_timeout.options import options_for

if TYPE_CHECKING:
    from django.db import models

    from django_assignment_timeout.events import AssignmentEvent

__all__ = ["end_offer", "expire_quietly"]


def end_offer(
    model: type[models.Model],
    pk: Any,
    attempt: int | None,
    using: str,
    *,
    kind: str,
    force: bool,
    reason: str = "",
) -> AssignmentEvent:
    """End the open offer of ``pk`` (that ``attempt``, if given) with a ``kind`` event.

    ``pk`` and ``attempt`` are already parsed. Unless ``force``, only an offer
    past its deadline ends. Raises the refusal of :func:`.why_not_expired`.
    """
    statements = statements_for(model, using)
    connection = connections[using]
    pinned = attempt is not None
    pk_value = statements.lookup(statements.pk_field, pk, connection)
    offer = [pk_value, statements.offered, *([attempt] if pinned else [])]
    reset = statements.reset_params(connection)
    with transition_atomic(using), connection.cursor() as cursor:
        if statements.vendor == "postgresql":
            # One UPDATE that returns the assignee and deadline it clears.
            cursor.execute(
                statements.expire[pinned, force], [*reset, *offer, statements.offered]
            )
            row = cursor.fetchone()
        else:
            # Read first, locking the row, so the event records the assignee
            # the UPDATE removes.
            cursor.execute(statements.expire_read[pinned], offer)
            row = cursor.fetchone()
            if row is not None:
                cursor.execute(
                    statements.expire[pinned, force],
                    [*reset, pk_value, statements.offered, row[0]],
                )
                if not cursor.rowcount:  # not due yet
                    row = None
        if row is not None:
            current_attempt, assignee_pk, deadline = row
            assignee_pk = statements.convert(
                statements.assignee, assignee_pk, connection
            )
            event = statements.event(
                cursor,
                statements.event_values_now,
                [
                    content_type_pk(model, using),
                    str(pk),
                    current_attempt,
                    kind,
                    None if assignee_pk is None else str(assignee_pk),
                    deadline,
                    reason,
                ],
                using,
            )
            assert event is not None  # VALUES always inserts a row
            announce: Any
            if kind == EventKind.EXPIRED:
                expired = [
                    signals.ExpiredOffer(
                        pk, current_attempt, assignee_pk, event.deadline
                    )
                ]
                announce = partial(after_expiry, model, expired)
            else:
                announce = partial(
                    after_withdrawal,
                    model,
                    pk,
                    current_attempt,
                    assignee_pk,
                    reason,
                    event,
                )
            transaction.on_commit(announce, using=using, robust=True)
            return event
    raise why_not_expired(model, options_for(model), pk, attempt, using, force=force)


def expire_quietly(
    model: type[models.Model], pk: Any, attempt: int, using: str
) -> None:
    """Expire a due offer found by a refused call; nothing if someone was first.

    Lazy expiry: whoever notices a due offer first ends it, so the dispatcher
    hears of it without waiting for the next sweep. TransitionError: someone
    else expired or answered it first.
    """
    with contextlib.suppress(TransitionError):
        end_offer(model, pk, attempt, using, kind=EventKind.EXPIRED, force=False)
