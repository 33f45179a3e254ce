"""Extending an open offer: more time for the assignee, on the database clock.

One conditional UPDATE moves the deadline (``deadline = deadline + by``)
while the offer is open and not yet due; nothing is read and checked in
Python first. An offer already due has ended, whether or not a sweep has
run, so it is expired on the spot and the caller told :class:`.OfferExpired`.
Each extension writes one ``extended`` event with the new deadline, numbered
by ``sequence`` from 1 within its attempt: the number is read while the
UPDATE holds the row, so concurrent extensions queue and count on, and the
events' unique key is the backstop.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction

from django_assignment_timeout.after_commit import after_extension
from django_assignment_timeout.lifecycle.arguments import attempt_argument
from django_assignment_timeout.lifecycle.ending import expire_quietly
from django_assignment_timeout.lifecycle.refusals import why_not_extended
from django_assignment_timeout.lifecycle.statements import statements_for
from django_assignment_timeout.lifecycle.writes import (
    content_type_pk,
    transition_atomic,
)
from django_assignment_timeout.options import options_for
from django_assignment_timeout.validation import positive_seconds

if TYPE_CHECKING:
    from django.db import models

    from django_assignment_timeout.events import AssignmentEvent

__all__ = ["extend"]


def extend(
    model: type[models.Model],
    pk: Any,
    *,
    by: Any,
    attempt: int | str | None = None,
    using: str | None = None,
) -> AssignmentEvent:
    """Give the open offer of ``pk`` ``by`` more time (seconds or a timedelta).

    Returns the ``extended`` event; its ``deadline`` is the new one. With
    ``attempt``, only that offer is extended. The expiry is re-armed for the
    new deadline after the commit. Raises :class:`.OfferExpired` when the
    deadline has passed (the offer is expired then), :class:`.NoActiveOffer`,
    :class:`.AlreadyTaken` or :class:`.AssignmentNotFound` when no offer is
    open, :class:`.InvalidArgument` for a bad argument.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    attempt = attempt_argument(model, attempt, using)
    seconds = positive_seconds(by, "by")
    statements = statements_for(model, using)
    connection = connections[using]
    pinned = attempt is not None
    pk_value = statements.lookup(statements.pk_field, pk, connection)
    params = [
        *statements.later_params(seconds, connection),
        pk_value,
        statements.offered,
        *([attempt] if pinned else []),
    ]
    content_type = content_type_pk(model, using)
    with transition_atomic(using), connection.cursor() as cursor:
        cursor.execute(statements.extend[pinned], params)
        row = None
        if statements.update_returns:
            row = cursor.fetchone()
        elif cursor.rowcount:
            # No RETURNING: the row as the UPDATE left it, which it holds.
            cursor.execute(statements.extend_read, [pk_value])
            row = cursor.fetchone()
        if row is not None:
            current_attempt, assignee_pk, deadline = row
            assignee_pk = statements.convert(
                statements.assignee, assignee_pk, connection
            )
            cursor.execute(
                statements.next_sequence,
                [content_type, str(pk), current_attempt, "extended"],
            )
            (sequence,) = cursor.fetchone()
            event = statements.event(
                cursor,
                statements.event_values_sequenced,
                [
                    *(content_type, str(pk), current_attempt, "extended"),
                    *(None if assignee_pk is None else str(assignee_pk), deadline),
                    *("", sequence),
                ],
                using,
            )
            assert event is not None  # VALUES always inserts a row
            transaction.on_commit(
                partial(
                    after_extension,
                    model,
                    pk,
                    current_attempt,
                    assignee_pk,
                    event.deadline,
                    event,
                ),
                using=using,
                robust=True,
            )
            return event
    refusal = why_not_extended(model, opts, pk, attempt, using)
    if refusal.due_attempt is not None:
        expire_quietly(model, pk, refusal.due_attempt, using)
    raise refusal.error
