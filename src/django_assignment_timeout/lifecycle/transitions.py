"""Offer, accept, reject, expire, withdraw: each one conditional UPDATE on the database clock.

The UPDATE's WHERE clause is the whole decision; nothing is read, checked in
Python and saved. When it changes no row, a second read (outside the decision,
:mod:`.refusals`) only chooses the most precise exception to raise. The event
row is written in the same transaction; signals and the scheduler run after
the commit (:mod:`django_assignment_timeout.after_commit`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction

from django_assignment_timeout.after_commit import after_answer, after_offer
from django_assignment_timeout.lifecycle.arguments import (
    attempt_argument,
    offer_seconds,
    offer_values,
)
from django_assignment_timeout.lifecycle.broadcast import answer_round
from django_assignment_timeout.lifecycle.ending import end_offer, expire_quietly
from django_assignment_timeout.lifecycle.refusals import (
    why_not_answered,
    why_not_pending,
)
from django_assignment_timeout.lifecycle.statements import (
    offer_values_sql,
    statements_for,
)
from django_assignment_timeout.lifecycle.writes import (
    content_type_pk,
    transition_atomic,
)
from django_assignment_timeout.options import (
    AssignmentOptions,
    options_for,
)
from django_assignment_timeout.validation import (
    require_bool,
    require_text,
)

if TYPE_CHECKING:
    from django.db import models

    from django_assignment_timeout.events import AssignmentEvent

__all__ = ["accept", "expire", "offer", "reject", "withdraw"]


def offer(
    model: type[models.Model],
    pk: Any,
    assignee: Any,
    *,
    timeout: Any = None,
    after_attempt: int | str | None = None,
    using: str | None = None,
    **values: Any,
) -> AssignmentEvent:
    """Offer pending assignment ``pk`` to ``assignee`` until now + timeout.

    ``timeout`` (seconds or a timedelta) overrides the model's timeout for
    this offer; ``values`` sets other fields at the same time (GTS:
    ``assignment_mode="MANUAL"``), each cleaned as ``full_clean`` would.
    ``after_attempt`` offers only if the latest offer is still that attempt
    (0: none): a compare-and-set for dispatch steps. Raises
    :class:`.AssignmentNotFound`, :class:`.AlreadyOffered` or
    :class:`.AlreadyTaken` when the row is not pending (or was offered again
    since ``after_attempt``), :class:`.InvalidArgument` for a bad argument.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    after_attempt = attempt_argument(model, after_attempt, using, name="after_attempt")
    pinned = after_attempt is not None
    assignee_pk = opts.assignee_pk(assignee, using)
    values = offer_values(opts, values, using)
    seconds = offer_seconds(model, opts, pk, assignee, assignee_pk, timeout, using)
    statements = statements_for(model, using)
    connection = connections[using]
    extra_sql, extra_params = offer_values_sql(model, values, using)
    # The assignee must exist when the UPDATE runs: PostgreSQL and SQLite
    # check the foreign key only at the commit, after offer() has returned
    # (or far later, inside an outer atomic()). In the WHERE clause it costs
    # no extra query; a refusal then says which condition failed.
    pk_value = statements.lookup(statements.pk_field, pk, connection)
    # Prepared as a lookup, not as a save: it is written only when the
    # EXISTS found that row, so a key no row can have (0 for MySQL's
    # AUTO_INCREMENT) is a refusal, not a ValueError.
    assignee = statements.lookup(statements.assignee_field, assignee_pk, connection)
    update_params = [
        *extra_params,
        statements.offered,
        assignee,
        *statements.deadline_params(seconds, connection),
        pk_value,
        statements.pending,
        *([after_attempt] if pinned else []),
        assignee,
    ]
    content_type = content_type_pk(model, using)
    with transition_atomic(using), connection.cursor() as cursor:
        cursor.execute(
            statements.offer_head + extra_sql + statements.offer_tail[pinned],
            update_params,
        )
        event = None
        if statements.update_returns:
            row = cursor.fetchone()
            if row is not None:
                # Passed on as the database returned them; the event returns
                # its own values converted.
                attempt, deadline = row
                event = statements.event(
                    cursor,
                    statements.event_values_now,
                    [
                        *(content_type, str(pk), attempt, "offered"),
                        *(str(assignee_pk), deadline, ""),
                    ],
                    using,
                )
        elif cursor.rowcount:
            # The INSERT reads the attempt and deadline from the row just changed.
            event = statements.event(
                cursor,
                statements.event_from_offer,
                [content_type, str(pk), "offered", str(assignee_pk), "", pk_value],
                using,
            )
        if event is not None:
            transaction.on_commit(
                partial(
                    after_offer,
                    model,
                    pk,
                    event.attempt,
                    assignee_pk,
                    event.deadline,
                    event,
                ),
                using=using,
                robust=True,
            )
            return event
    raise why_not_pending(model, opts, pk, assignee_pk, using, after_attempt)


def accept(
    model: type[models.Model],
    pk: Any,
    assignee: Any,
    *,
    attempt: int | str | None = None,
    using: str | None = None,
) -> AssignmentEvent:
    """Accept the open offer of ``pk`` as ``assignee`` before its deadline.

    ``attempt`` pins the answer to one offer, so a late answer to an earlier
    offer can not accept a later one. Raises :class:`.OfferExpired`,
    :class:`.NotOfferedToYou`, :class:`.AlreadyTaken` or :class:`.NoActiveOffer`.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    return _answer(
        model,
        opts,
        opts.key(pk, using),
        opts.assignee_pk(assignee, using),
        attempt_argument(model, attempt, using),
        using,
        kind="accepted",
    )


def reject(
    model: type[models.Model],
    pk: Any,
    assignee: Any,
    *,
    reason: str = "",
    attempt: int | str | None = None,
    using: str | None = None,
) -> AssignmentEvent:
    """Turn down the open offer of ``pk`` as ``assignee``; the row goes back to pending."""
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk, assignee_pk = opts.key(pk, using), opts.assignee_pk(assignee, using)
    attempt = attempt_argument(model, attempt, using)
    require_text(reason, "reason")
    return _answer(
        model,
        opts,
        pk,
        assignee_pk,
        attempt,
        using,
        kind="rejected",
        reason=reason,
    )


def expire(
    model: type[models.Model],
    pk: Any,
    *,
    attempt: int | str | None = None,
    force: bool = False,
    using: str | None = None,
) -> AssignmentEvent:
    """Expire the open offer of ``pk`` once its deadline has passed.

    With ``attempt``, only that offer is expired (a precise task for attempt 1
    never touches attempt 2). ``force`` ends the offer before its deadline,
    still recorded as ``expired`` (to record a dispatcher's decision, use
    :func:`withdraw`). Raises :class:`.OfferNotDue`, :class:`.NoActiveOffer`
    or :class:`.AlreadyTaken` when there is nothing to do.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    attempt = attempt_argument(model, attempt, using)
    require_bool(force, "force")
    return end_offer(model, pk, attempt, using, kind="expired", force=force)


def withdraw(
    model: type[models.Model],
    pk: Any,
    *,
    attempt: int | str | None = None,
    reason: str = "",
    using: str | None = None,
) -> AssignmentEvent:
    """Withdraw the open offer of ``pk`` before its deadline: the dispatcher takes it back.

    The same UPDATE as ``expire(force=True)`` (the row is pending again, the
    offer's fields cleared), recorded as one ``withdrawn`` event with
    ``reason``, announced by :data:`~.signals.assignment_withdrawn`. With
    ``attempt``, only that offer is withdrawn. Raises :class:`.NoActiveOffer`,
    :class:`.AlreadyTaken` or :class:`.AssignmentNotFound`.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    attempt = attempt_argument(model, attempt, using)
    require_text(reason, "reason")
    return end_offer(
        model, pk, attempt, using, kind="withdrawn", force=True, reason=reason
    )


# -- internals ---------------------------------------------------------------


def _answer(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str,
    *,
    kind: str,
    reason: str = "",
) -> AssignmentEvent:
    if getattr(opts.dispatch, "strategy", None) == "broadcast":
        # Only a model with a broadcast policy can hold a round (one offer to
        # several); the others never pay for the check.
        round_answer = answer_round(
            model, opts, pk, assignee_pk, attempt, using, kind=kind, reason=reason
        )
        if round_answer is not None:
            return round_answer
    statements = statements_for(model, using)
    connection = connections[using]
    pinned = attempt is not None
    pk_value = statements.lookup(statements.pk_field, pk, connection)
    live_offer = [
        pk_value,
        statements.offered,
        statements.lookup(statements.assignee_field, assignee_pk, connection),
        *([attempt] if pinned else []),
    ]
    changes = (
        [statements.accepted]
        if kind == "accepted"
        else statements.reset_params(connection)
    )
    content_type = content_type_pk(model, using)
    with transition_atomic(using), connection.cursor() as cursor:
        # One reading of the database clock decides the answer and stamps its
        # event, so "accepted before the deadline" can be audited exactly.
        if statements.update_returns:
            cursor.execute(statements.answer[kind, pinned], [*changes, *live_offer])
            row = cursor.fetchone()
            event = None
            if row is not None:
                current_attempt, now = row
                event = statements.event(
                    cursor,
                    statements.event_values,
                    [
                        content_type,
                        str(pk),
                        current_attempt,
                        kind,
                        str(assignee_pk),
                        None,
                        reason,
                        now,
                    ],
                    using,
                )
        else:
            # No UPDATE ... RETURNING: the INSERT decides, from the live offer
            # it locks, on its own clock; the UPDATE changes the row it holds.
            event = statements.event(
                cursor,
                statements.answer[kind, pinned],
                [content_type, str(pk), kind, str(assignee_pk), reason, *live_offer],
                using,
            )
            if event is not None:
                cursor.execute(
                    statements.answer_update[kind],
                    [*changes, pk_value, statements.offered, event.attempt],
                )
                if cursor.rowcount != 1:  # pragma: no cover - the row is locked
                    raise RuntimeError(
                        f"{model._meta.label} {pk} changed under its lock; "
                        "the answer was rolled back."
                    )
        if event is not None:
            transaction.on_commit(
                partial(
                    after_answer,
                    model,
                    pk,
                    kind,
                    event.attempt,
                    assignee_pk,
                    reason,
                    event,
                ),
                using=using,
                robust=True,
            )
            return event
    refusal = why_not_answered(model, opts, pk, assignee_pk, attempt, using)
    if refusal.due_attempt is not None:
        expire_quietly(model, pk, refusal.due_attempt, using)
    raise refusal.error
