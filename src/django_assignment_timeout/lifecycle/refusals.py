"""Why a transition changed no row: the most precise refusal to raise.

Called only after a conditional UPDATE refused; the read here never decides
anything, it only names what the caller ran into (expired, not offered to
you, already taken, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db.models import BooleanField, Case, Value, When

from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import (
    AlreadyOffered,
    AlreadyTaken,
    AssignmentError,
    AssignmentNotFound,
    InvalidArgument,
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
    OfferNotDue,
    TransitionError,
)
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, AssignmentOptions

if TYPE_CHECKING:
    from django.db import models

#: The events that end an offer; the last of them says how the last one ended.
_ENDINGS = ("accepted", "rejected", "expired", "withdrawn")
#: The endings nobody answered: a late answer to them is told the offer is gone.
_UNANSWERED = ("expired", "withdrawn")

__all__ = [
    "Refusal",
    "last_ending_for",
    "snapshot",
    "unknown_assignee",
    "why_not_answered",
    "why_not_expired",
    "why_not_extended",
    "why_not_pending",
]


class Refusal(NamedTuple):
    """A refused answer: the error to raise, and an offer found past its deadline."""

    error: TransitionError
    #: The attempt to expire on the spot (lazy expiry), when the offer was due.
    due_attempt: int | None = None


def snapshot(
    model: type[models.Model], opts: AssignmentOptions, pk: Any, using: str
) -> dict[str, Any]:
    """The row's status, assignee, attempt and whether it is due (database clock)."""
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


def why_not_pending(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee_pk: Any,
    using: str,
    after_attempt: int | None = None,
) -> AssignmentError:
    """Why an offer changed no row: missing, offered or taken already, or no such assignee.

    In that order: the assignment's state is the first thing the caller
    needs to know, whoever the offer was for. An offer pinned with
    ``after_attempt`` to a pending row offered again since is
    :class:`.AlreadyOffered` too.
    """
    try:
        row = snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return err
    status = row[opts.status_attname]
    if status == opts.offered:
        return AlreadyOffered("This assignment is already offered to someone.", pk=pk)
    if status == opts.accepted:
        return AlreadyTaken(pk=pk)
    if status != opts.pending:
        return AlreadyOffered(
            f"This assignment is {status!s}, not {opts.pending!s}; it can not be offered.",
            pk=pk,
        )
    if after_attempt is not None and row[ATTEMPT] != after_attempt:
        return AlreadyOffered(
            f"This assignment was offered again since attempt {after_attempt} "
            f"(it is at attempt {row[ATTEMPT]}).",
            pk=pk,
        )
    if not opts.assignee_rows(assignee_pk, using).exists():
        return unknown_assignee(opts, assignee_pk)
    # Pending now, but not when our UPDATE ran: an offer ended meanwhile.
    return AlreadyOffered("The assignment changed meanwhile; try again.", pk=pk)


def unknown_assignee(opts: AssignmentOptions, assignee_pk: Any) -> InvalidArgument:
    """The refusal of an offer to an assignee key no row has (HTTP 400)."""
    related = opts.model._meta.get_field(opts.assignee_field).related_model
    return InvalidArgument(
        f"{related._meta.verbose_name} {assignee_pk} does not exist.",  # type: ignore[union-attr]
        argument="assignee",
    )


def why_not_answered(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str,
) -> Refusal:
    """Why an accept or reject changed no row.

    When the answer came to an offer past its deadline that no sweep has
    expired yet, :attr:`Refusal.due_attempt` says which offer to expire now.
    """
    try:
        row = snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return Refusal(err)
    status = row[opts.status_attname]
    mine = str(row[opts.assignee_attname]) == str(assignee_pk)
    current = row[ATTEMPT]
    if status == opts.offered:
        if not mine:
            return Refusal(NotOfferedToYou(pk=pk, attempt=attempt))
        if attempt is not None and attempt < current:
            return Refusal(
                OfferExpired(
                    "That offer has ended; a newer offer was made.",
                    pk=pk,
                    attempt=attempt,
                )
            )
        if attempt is not None and attempt > current:
            return Refusal(
                NoActiveOffer("No such offer was made.", pk=pk, attempt=attempt)
            )
        if row["_is_due"]:
            return Refusal(OfferExpired(pk=pk, attempt=current), due_attempt=current)
        # The row changed between our UPDATE and this read: nothing was done.
        return Refusal(NoActiveOffer("The offer changed meanwhile; try again.", pk=pk))
    if status == opts.accepted:
        if mine:
            return Refusal(
                AlreadyTaken("You have already accepted this assignment.", pk=pk)
            )
        return Refusal(AlreadyTaken(pk=pk))
    if status == opts.pending:
        ending = last_ending_for(model, pk, assignee_pk, attempt, using)
        if ending == "expired":
            return Refusal(OfferExpired(pk=pk, attempt=attempt))
        if ending == "withdrawn":
            return Refusal(
                OfferExpired("This offer was withdrawn.", pk=pk, attempt=attempt)
            )
    return Refusal(NoActiveOffer(pk=pk, attempt=attempt))


def why_not_expired(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    attempt: int | None,
    using: str,
    *,
    force: bool = False,
) -> TransitionError:
    """Why an expiry (or a withdrawal) changed no row: not due yet, taken, no offer, or missing.

    With ``force`` (a withdrawal) the ending waits for no deadline: an open offer
    found here changed between its UPDATE and this read.
    """
    try:
        row = snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return err
    status = row[opts.status_attname]
    if status == opts.offered and (attempt is None or attempt == row[ATTEMPT]):
        if force:
            return NoActiveOffer("The offer changed meanwhile; try again.", pk=pk)
        return OfferNotDue(pk=pk, attempt=row[ATTEMPT])
    if status == opts.accepted:
        return AlreadyTaken(pk=pk, attempt=attempt)
    return NoActiveOffer(pk=pk, attempt=attempt)


def why_not_extended(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    attempt: int | None,
    using: str,
) -> Refusal:
    """Why an extension changed no row: the offer is due, ended, taken, or missing.

    An open offer past its deadline can not be given more time: it has ended,
    whether or not a sweep has run, so :attr:`Refusal.due_attempt` says to
    expire it now, as a late answer does.
    """
    try:
        row = snapshot(model, opts, pk, using)
    except AssignmentNotFound as err:
        return Refusal(err)
    status = row[opts.status_attname]
    current = row[ATTEMPT]
    if status == opts.offered and (attempt is None or attempt == current):
        if row["_is_due"]:
            return Refusal(OfferExpired(pk=pk, attempt=current), due_attempt=current)
        return Refusal(NoActiveOffer("The offer changed meanwhile; try again.", pk=pk))
    if status == opts.accepted:
        return Refusal(AlreadyTaken(pk=pk, attempt=attempt))
    return Refusal(NoActiveOffer(pk=pk, attempt=attempt))


def last_ending_for(
    model: type[models.Model],
    pk: Any,
    assignee_pk: Any,
    attempt: int | None,
    using: str,
) -> str | None:
    """How the last offer of ``pk`` ended (``expired`` or ``withdrawn``), if it was ``assignee_pk``'s.

    ``None`` when it was someone else's offer, another attempt than
    ``attempt``, or ended otherwise (answered).
    """
    last = (
        AssignmentEvent.objects.using(using)
        .filter(
            content_type=ContentType.objects.db_manager(using).get_for_model(model),
            object_pk=str(pk),
            kind__in=_ENDINGS,
        )
        .order_by("-id")
        .values_list("kind", "assignee_pk", "attempt")
        .first()
    )
    if last is None:
        return None
    kind, last_assignee, last_attempt = last
    if kind not in _UNANSWERED or attempt not in (None, last_attempt):
        return None
    if last_assignee == str(assignee_pk):
        return str(kind)
    if last_assignee is None and _offered_in_round(
        model, pk, assignee_pk, last_attempt, using
    ):
        # A broadcast round has no assignee: it was theirs if they were offered it.
        return str(kind)
    return None


def _offered_in_round(
    model: type[models.Model], pk: Any, assignee_pk: Any, attempt: int, using: str
) -> bool:
    return (
        AssignmentEvent.objects.using(using)
        .filter(
            content_type=ContentType.objects.db_manager(using).get_for_model(model),
            object_pk=str(pk),
            attempt=attempt,
            kind="offered",
            assignee_pk=str(assignee_pk),
        )
        .exists()
    )
