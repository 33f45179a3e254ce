"""Offer, accept, reject, expire: each one conditional UPDATE on the database clock.

The UPDATE's WHERE clause is the whole decision; nothing is read, checked in
Python and saved. When it changes no row, a second read (outside the decision,
:mod:`.refusals`) only chooses the most precise exception to raise. The event
row is written in the same transaction; signals and the scheduler run after
the commit (:mod:`django_assignment_timeout.after_commit`).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction
from django.db.models import Exists, F, Q

from django_assignment_timeout import signals
from django_assignment_timeout.after_commit import (
    after_answer,
    after_expiry,
    after_offer,
)
from django_assignment_timeout.clock import DatabaseNow, database_now, deadline_in
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import TransitionError
from django_assignment_timeout.lifecycle.arguments import offer_seconds, offer_values
from django_assignment_timeout.lifecycle.refusals import (
    why_not_answered,
    why_not_expired,
    why_not_pending,
)
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    AssignmentOptions,
    integer_range,
    options_for,
)
from django_assignment_timeout.validation import (
    require_attempt,
    require_bool,
    require_text,
)

if TYPE_CHECKING:
    from django.db import models

__all__ = ["accept", "expire", "offer", "reject"]


def offer(
    model: type[models.Model],
    pk: Any,
    assignee: Any,
    *,
    timeout: Any = None,
    using: str | None = None,
    **values: Any,
) -> AssignmentEvent:
    """Offer pending assignment ``pk`` to ``assignee`` until now + timeout.

    ``timeout`` (seconds or a timedelta) overrides the model's timeout for
    this offer; ``values`` sets other fields at the same time (GTS:
    ``assignment_mode="MANUAL"``), each cleaned as ``full_clean`` would.
    Raises :class:`.AssignmentNotFound`, :class:`.AlreadyOffered` or
    :class:`.AlreadyTaken` when the row is not pending, and
    :class:`.InvalidArgument` for a bad argument or an assignee that does not
    exist.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    assignee_pk = opts.assignee_pk(assignee, using)
    values = offer_values(opts, values, using)
    seconds = offer_seconds(model, opts, pk, assignee, assignee_pk, timeout, using)
    rows = model._base_manager.using(using).filter(pk=pk)
    # The assignee must exist when the UPDATE runs: PostgreSQL and SQLite
    # check the foreign key only at the commit, after offer() has returned
    # (or far later, inside an outer atomic()). In the WHERE clause it costs
    # no extra query; a refusal then says which condition failed.
    assignee_exists = Exists(opts.assignee_rows(assignee_pk, using))
    with transaction.atomic(using=using):
        pending = rows.filter(assignee_exists, **{opts.status_field: opts.pending})
        changed = pending.update(
            **values,
            **{
                opts.status_field: opts.offered,
                opts.assignee_attname: assignee_pk,
                STARTED_AT: DatabaseNow(),
                EXPIRES_AT: deadline_in(seconds),
                ATTEMPT: F(ATTEMPT) + 1,
            },
        )
        if changed:
            attempt, deadline = rows.values_list(ATTEMPT, EXPIRES_AT).get()
            event = AssignmentEvent.objects.using(using).record(
                model, pk, attempt, "offered", assignee_pk, deadline
            )
            transaction.on_commit(
                partial(after_offer, model, pk, attempt, assignee_pk, deadline, event),
                using=using,
                robust=True,
            )
            return event
    raise why_not_pending(model, opts, pk, assignee_pk, using)


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
        _attempt(model, attempt, using),
        using,
        kind="accepted",
        changes={opts.status_field: opts.accepted, EXPIRES_AT: None},
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
    attempt = _attempt(model, attempt, using)
    require_text(reason, "reason")
    return _answer(
        model,
        opts,
        pk,
        assignee_pk,
        attempt,
        using,
        kind="rejected",
        changes={opts.status_field: opts.pending, **opts.cleared_values()},
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
    never touches attempt 2). ``force`` ends the offer before its deadline (a
    dispatcher withdrawing it). Raises :class:`.OfferNotDue`,
    :class:`.NoActiveOffer` or :class:`.AlreadyTaken` when there is nothing to do.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    attempt = _attempt(model, attempt, using)
    require_bool(force, "force")
    rows = model._base_manager.using(using).filter(pk=pk)
    offered = Q(**{opts.status_field: opts.offered})
    if attempt is not None:
        offered &= Q(**{ATTEMPT: attempt})
    with transaction.atomic(using=using):
        # Lock first so the event records the assignee the UPDATE removes.
        locked = (
            rows.filter(offered)
            .select_for_update()
            .values_list(ATTEMPT, opts.assignee_attname, EXPIRES_AT)
            .first()
        )
        if locked is not None:
            current_attempt, assignee_pk, deadline = locked
            due = Q() if force else Q(**{f"{EXPIRES_AT}__lte": DatabaseNow()})
            changed = rows.filter(offered, due, **{ATTEMPT: current_attempt}).update(
                **{opts.status_field: opts.pending, **opts.cleared_values()}
            )
            if changed:
                event = AssignmentEvent.objects.using(using).record(
                    model, pk, current_attempt, "expired", assignee_pk, deadline
                )
                expired = [
                    signals.ExpiredOffer(pk, current_attempt, assignee_pk, deadline)
                ]
                transaction.on_commit(
                    partial(after_expiry, model, expired), using=using, robust=True
                )
                return event
    raise why_not_expired(model, opts, pk, attempt, using)


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
    changes: dict[str, Any],
    reason: str = "",
) -> AssignmentEvent:
    rows = model._base_manager.using(using).filter(pk=pk)
    with transaction.atomic(using=using):
        if connections[using].vendor == "mysql":
            # InnoDB may reach the row through the assignee index and lock
            # that entry before the primary key: the reverse of the sweep,
            # which locks primary keys and then the index entries its UPDATE
            # clears. Taking the primary key first keeps one lock order
            # (observed as deadlocks between accepts and sweeps on MariaDB).
            list(rows.select_for_update().values_list("pk"))
        # One reading of the database clock decides the answer and stamps its
        # event, so "accepted before the deadline" can be audited exactly.
        now = database_now(using)
        live_offer = Q(
            **{
                opts.status_field: opts.offered,
                opts.assignee_attname: assignee_pk,
                f"{EXPIRES_AT}__gt": now,
            }
        )
        if attempt is not None:
            live_offer &= Q(**{ATTEMPT: attempt})
        if rows.filter(live_offer).update(**changes):
            # Our UPDATE holds the row lock, so this read sees our own change.
            # The deadline met is on the attempt's "offered" event.
            current_attempt = rows.values_list(ATTEMPT, flat=True).get()
            event = AssignmentEvent.objects.using(using).record(
                model, pk, current_attempt, kind, assignee_pk, None, reason, now
            )
            transaction.on_commit(
                partial(
                    after_answer,
                    model,
                    pk,
                    kind,
                    current_attempt,
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
        _expire_quietly(model, pk, refusal.due_attempt, using)
    raise refusal.error


def _attempt(model: type[models.Model], attempt: Any, using: str) -> int | None:
    # Parsed like an integer key ("2" from a form is 2), within the column.
    _, high = integer_range(model._meta.get_field(ATTEMPT), using)
    return require_attempt(attempt, high=high)


def _expire_quietly(
    model: type[models.Model], pk: Any, attempt: int, using: str
) -> None:
    # Lazy expiry: whoever notices a due offer first ends it, so the
    # dispatcher hears of it without waiting for the next sweep.
    # TransitionError: someone else expired or answered it first.
    with contextlib.suppress(TransitionError):
        expire(model, pk, attempt=attempt, using=using)
