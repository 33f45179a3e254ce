"""Offer, accept, reject, expire: each one conditional UPDATE on the database clock.

The UPDATE's WHERE clause is the whole decision; nothing is read, checked in
Python and saved. When it changes no row, a second read (outside the decision)
only chooses the most precise exception to raise. The event row is written in
the same transaction; signals and the scheduler run after the commit.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.db.models import BooleanField, Case, F, Q, Value, When

from django_assignment_timeout import signals
from django_assignment_timeout.dispatch import (
    schedule_delivery,
    schedule_expiry,
    send_signal,
)
from django_assignment_timeout.exceptions import (
    AlreadyOffered,
    AlreadyTaken,
    AssignmentNotFound,
    InvalidArgument,
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
    OfferNotDue,
    TransitionError,
)
from django_assignment_timeout.expressions import DatabaseNow, database_now, deadline_in
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    AssignmentOptions,
    options_for,
)

if TYPE_CHECKING:
    from django.db import models

    from django_assignment_timeout.models import AssignmentEvent

_MANAGED = frozenset({STARTED_AT, EXPIRES_AT, ATTEMPT})


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
    ``assignment_mode="MANUAL"``). Raises :class:`.AlreadyOffered` or
    :class:`.AlreadyTaken` when the row is not pending.
    """
    opts = options_for(model)
    pk = _key(model, pk)
    assignee_pk = opts.assignee_pk(assignee)
    _check_values(opts, values)
    using = using or router.db_for_write(model)
    seconds = opts.timeout_seconds(
        _instance_or_none(model, pk, using) if callable(opts.timeout) else None,
        assignee,
        override=timeout,
    )
    rows = model._base_manager.using(using).filter(pk=pk)
    with transaction.atomic(using=using):
        changed = rows.filter(**{opts.status_field: opts.pending}).update(
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
            event = _record(model, pk, attempt, "offered", assignee_pk, deadline, using)
            transaction.on_commit(
                partial(_after_offer, model, pk, attempt, assignee_pk, deadline, event),
                using=using,
                robust=True,
            )
            return event
    raise _why_not_pending(model, opts, pk, using)


def accept(
    model: type[models.Model],
    pk: Any,
    assignee: Any,
    *,
    attempt: int | None = None,
    using: str | None = None,
) -> AssignmentEvent:
    """Accept the open offer of ``pk`` as ``assignee`` before its deadline.

    ``attempt`` pins the answer to one offer, so a late answer to an earlier
    offer can not accept a later one. Raises :class:`.OfferExpired`,
    :class:`.NotOfferedToYou`, :class:`.AlreadyTaken` or :class:`.NoActiveOffer`.
    """
    opts = options_for(model)
    _check_attempt(attempt)
    return _answer(
        model,
        opts,
        _key(model, pk),
        opts.assignee_pk(assignee),
        attempt,
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
    attempt: int | None = None,
    using: str | None = None,
) -> AssignmentEvent:
    """Turn down the open offer of ``pk`` as ``assignee``; the row goes back to pending."""
    opts = options_for(model)
    if not isinstance(reason, str):
        raise InvalidArgument("reason must be a string.")
    _check_attempt(attempt)
    return _answer(
        model,
        opts,
        _key(model, pk),
        opts.assignee_pk(assignee),
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
    attempt: int | None = None,
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
    pk = _key(model, pk)
    _check_attempt(attempt)
    using = using or router.db_for_write(model)
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
                event = _record(
                    model, pk, current_attempt, "expired", assignee_pk, deadline, using
                )
                expired = [
                    signals.ExpiredOffer(pk, current_attempt, assignee_pk, deadline)
                ]
                transaction.on_commit(
                    partial(after_expiry, model, expired), using=using, robust=True
                )
                return event
    raise _why_not_expired(model, opts, pk, attempt, using)


# -- internals ---------------------------------------------------------------


def _answer(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str | None,
    *,
    kind: str,
    changes: dict[str, Any],
    reason: str = "",
) -> AssignmentEvent:
    using = using or router.db_for_write(model)
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
            event = _record(
                model, pk, current_attempt, kind, assignee_pk, None, using, reason, now
            )
            transaction.on_commit(
                partial(
                    _after_answer,
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
    raise _why_not_answered(model, opts, pk, assignee_pk, attempt, using)


def _record(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    kind: str,
    assignee_pk: Any,
    deadline: Any,
    using: str,
    reason: str = "",
    created_at: Any = None,
) -> AssignmentEvent:
    from django.contrib.contenttypes.models import ContentType

    from django_assignment_timeout.models import AssignmentEvent

    # Without created_at the column's database default (the statement's clock)
    # applies.
    stamp = {} if created_at is None else {"created_at": created_at}
    return AssignmentEvent.objects.using(using).create(
        **stamp,
        content_type=ContentType.objects.db_manager(using).get_for_model(model),
        object_pk=str(pk),
        attempt=attempt,
        kind=kind,
        assignee_pk=None if assignee_pk is None else str(assignee_pk),
        deadline=deadline,
        reason=reason,
    )


def _key(model: type[models.Model], pk: Any) -> Any:
    """``pk`` as the primary key field's Python value (so event keys are uniform)."""
    if pk is None or isinstance(pk, bool):
        raise InvalidArgument(f"{pk!r} is not a valid {model._meta.label} key.")
    try:
        return model._meta.pk.to_python(pk)
    except (ValidationError, TypeError, ValueError) as err:
        raise InvalidArgument(
            f"{pk!r} is not a valid {model._meta.label} key."
        ) from err


def _check_attempt(attempt: Any) -> None:
    if attempt is not None and (
        isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1
    ):
        raise InvalidArgument(f"attempt must be a positive integer, not {attempt!r}.")


def _check_values(opts: AssignmentOptions, values: dict[str, Any]) -> None:
    reserved = {
        opts.status_field,
        opts.assignee_field,
        opts.assignee_attname,
        *_MANAGED,
    }
    for name in values:
        if name in reserved:
            raise InvalidArgument(f"{name} is set by the offer itself; do not pass it.")
        try:
            field = opts.model._meta.get_field(name)
        except Exception as err:
            raise InvalidArgument(
                f"{opts.model._meta.label} has no field {name!r}."
            ) from err
        if not getattr(field, "concrete", False) or field.many_to_many:
            raise InvalidArgument(f"{name} can not be set by an offer.")


def _instance_or_none(model: type[models.Model], pk: Any, using: str) -> Any:
    return model._base_manager.using(using).filter(pk=pk).first()


def _snapshot(
    model: type[models.Model], opts: AssignmentOptions, pk: Any, using: str
) -> dict[str, Any]:
    row: dict[str, Any] | None = (
        model._base_manager.using(using)
        .filter(pk=pk)
        .annotate(
            _is_due=Case(
                When(**{f"{EXPIRES_AT}__lte": DatabaseNow()}, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .values(opts.status_attname, opts.assignee_attname, ATTEMPT, "_is_due")
        .first()
    )
    if row is None:
        raise AssignmentNotFound(
            f"{model._meta.verbose_name} {pk} does not exist.", pk=pk
        )
    return row


def _why_not_pending(
    model: type[models.Model], opts: AssignmentOptions, pk: Any, using: str
) -> TransitionError:
    try:
        row = _snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return err
    status = row[opts.status_attname]
    if status == opts.offered:
        return AlreadyOffered("This assignment is already offered to someone.", pk=pk)
    if status == opts.accepted:
        return AlreadyTaken(pk=pk)
    return AlreadyOffered(
        f"This assignment is {status!s}, not {opts.pending!s}; it can not be offered.",
        pk=pk,
    )


def _why_not_answered(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str,
) -> TransitionError:
    try:
        row = _snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return err
    status = row[opts.status_attname]
    mine = str(row[opts.assignee_attname]) == str(assignee_pk)
    current = row[ATTEMPT]
    if status == opts.offered:
        if not mine:
            return NotOfferedToYou(pk=pk, attempt=attempt)
        if attempt is not None and attempt < current:
            return OfferExpired(
                "That offer has ended; a newer offer was made.", pk=pk, attempt=attempt
            )
        if attempt is not None and attempt > current:
            return NoActiveOffer("No such offer was made.", pk=pk, attempt=attempt)
        if row["_is_due"]:
            _expire_quietly(model, pk, current, using)
            return OfferExpired(pk=pk, attempt=current)
        # The row changed between our UPDATE and this read: nothing was done.
        return NoActiveOffer("The offer changed meanwhile; try again.", pk=pk)
    if status == opts.accepted:
        if mine:
            return AlreadyTaken("You have already accepted this assignment.", pk=pk)
        return AlreadyTaken(pk=pk)
    if status == opts.pending and _last_offer_expired_for(
        model, pk, assignee_pk, attempt, using
    ):
        return OfferExpired(pk=pk, attempt=attempt)
    return NoActiveOffer(pk=pk, attempt=attempt)


def _why_not_expired(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    attempt: int | None,
    using: str,
) -> TransitionError:
    try:
        row = _snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return err
    status = row[opts.status_attname]
    if status == opts.offered and (attempt is None or attempt == row[ATTEMPT]):
        return OfferNotDue(pk=pk, attempt=row[ATTEMPT])
    if status == opts.accepted:
        return AlreadyTaken(pk=pk, attempt=attempt)
    return NoActiveOffer(pk=pk, attempt=attempt)


def _last_offer_expired_for(
    model: type[models.Model],
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str,
) -> bool:
    from django.contrib.contenttypes.models import ContentType

    from django_assignment_timeout.models import AssignmentEvent

    last = (
        AssignmentEvent.objects.using(using)
        .filter(
            content_type=ContentType.objects.db_manager(using).get_for_model(model),
            object_pk=str(pk),
        )
        .exclude(kind="offered")
        .order_by("-id")
        .values_list("kind", "assignee_pk", "attempt")
        .first()
    )
    if last is None:
        return False
    kind, last_assignee, last_attempt = last
    return (
        kind == "expired"
        and last_assignee == str(assignee_pk)
        and (attempt is None or attempt == last_attempt)
    )


def _expire_quietly(
    model: type[models.Model], pk: Any, attempt: int, using: str
) -> None:
    # Lazy expiry: whoever notices a due offer first ends it, so the
    # dispatcher hears of it without waiting for the next sweep.
    # TransitionError: someone else expired or answered it first.
    with contextlib.suppress(TransitionError):
        expire(model, pk, attempt=attempt, using=using)


# -- after commit ------------------------------------------------------------


def _after_offer(
    model: type[models.Model],
    pk: Any,
    attempt: int,
    assignee_pk: Any,
    deadline: Any,
    event: AssignmentEvent,
) -> None:
    send_signal(
        signals.assignment_offered,
        model,
        pk=pk,
        attempt=attempt,
        assignee_pk=assignee_pk,
        deadline=deadline,
        event=event,
    )
    schedule_expiry(model, pk, attempt, deadline)
    schedule_delivery()


def _after_answer(
    model: type[models.Model],
    pk: Any,
    kind: str,
    attempt: int,
    assignee_pk: Any,
    reason: str,
    event: AssignmentEvent,
) -> None:
    signal = (
        signals.assignment_accepted
        if kind == "accepted"
        else signals.assignment_rejected
    )
    extra = {"reason": reason} if kind == "rejected" else {}
    send_signal(
        signal,
        model,
        pk=pk,
        attempt=attempt,
        assignee_pk=assignee_pk,
        event=event,
        **extra,
    )
    schedule_delivery()


def after_expiry(
    model: type[models.Model], expired: list[signals.ExpiredOffer]
) -> None:
    """Announce committed expiries and trigger their delivery."""
    send_signal(signals.assignment_expired, model, expired=expired)
    schedule_delivery()
