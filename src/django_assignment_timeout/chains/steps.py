"""Start, advance and stop a dispatch chain: each step one transaction, fenced twice.

A step turns the ended offer of a running chain into the next offer (or
into an ``exhausted`` event). It is driven by the event outbox: the relay
hands it every ending event it claims (:func:`advance_chains`) before it
sends that event's notifications, and an event stays in the outbox until
its step has committed. So a step survives a crash anywhere (the process
killed after the expiry, a relay killed mid-batch: the event is claimed
again when its lease ends) and never makes two offers:

1. the step claims its chain with a conditional UPDATE on the chain row
   (running, and still at the ended offer's attempt), which holds the row
   until the commit; a second relay with the same event changes nothing
   and stops;
2. the new offer is itself conditional on the assignment being pending at
   that same attempt (``offer(after_attempt=...)``), so an assignment
   offered by hand meanwhile is never offered again by the chain.

The chain's new attempt is written in the transaction of its offer, so a
replayed step finds the chain moved on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connections, router, transaction
from django.db.models import BooleanField, Case, F, Value, When

from django_assignment_timeout.after_commit import after_exhausted
from django_assignment_timeout.chains.next_offer import offer_next
from django_assignment_timeout.clock import DatabaseNow, deadline_in
from django_assignment_timeout.dispatch_chain import (
    ChainEnd,
    ChainState,
    DispatchChain,
)
from django_assignment_timeout.events import AssignmentEvent, EventKind
from django_assignment_timeout.exceptions import (
    AlreadyDispatching,
    AlreadyOffered,
    AlreadyTaken,
    AssignmentNotFound,
    ConfigurationError,
    NoCandidate,
    TransitionError,
)
from django_assignment_timeout.options import ATTEMPT, options_for

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db import models

    from django_assignment_timeout.options import AssignmentOptions

__all__ = [
    "STEP_KINDS",
    "advance",
    "advance_chains",
    "running_chain",
    "start_dispatch",
    "stop_dispatch",
]

logger = logging.getLogger("django_assignment_timeout.chains")

#: The event kinds a running chain acts on: an ending of its latest offer.
STEP_KINDS = frozenset(
    {
        EventKind.REJECTED,
        EventKind.EXPIRED,
        EventKind.WITHDRAWN,
        EventKind.ACCEPTED,
        # An offer made outside the chain (by hand) supersedes it.
        EventKind.OFFERED,
    }
)


def start_dispatch(
    model: type[models.Model], pk: Any, *, using: str | None = None
) -> AssignmentEvent:
    """Start the model's dispatch policy for pending assignment ``pk``.

    Offers it to the first eligible candidate (a broadcast: to the first
    round's candidates) and returns that ``offered`` event (a broadcast: the
    first candidate's); the relay takes every later step. Raises
    :class:`.ConfigurationError` when the model declares no policy,
    :class:`.AssignmentNotFound`, :class:`.AlreadyOffered` or
    :class:`.AlreadyTaken` when the row is not pending,
    :class:`.AlreadyDispatching` when a chain already runs for it, and
    :class:`.NoCandidate` when nobody is eligible (nothing is written then).
    """
    opts = options_for(model)
    _policy(opts)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    content_type = ContentType.objects.db_manager(using).get_for_model(model).pk
    with transaction.atomic(using=using):
        # Locked first, so two starts (and a start and a hand offer) queue.
        row = model._base_manager.using(using).select_for_update().filter(pk=pk).first()
        if row is None:
            raise AssignmentNotFound(
                f"{model._meta.verbose_name} {pk} does not exist.", pk=pk
            )
        status = getattr(row, opts.status_attname)
        if status == opts.accepted:
            raise AlreadyTaken(pk=pk)
        if status != opts.pending:
            raise AlreadyOffered(pk=pk)
        seconds = opts.dispatch.deadline_seconds
        try:
            with transaction.atomic(using=using):
                chain = DispatchChain.objects.using(using).create(
                    content_type_id=content_type,
                    object_pk=str(pk),
                    running_pk=str(pk),
                    first_attempt=getattr(row, ATTEMPT) + 1,
                    attempt=getattr(row, ATTEMPT),
                    deadline=None if seconds is None else deadline_in(seconds),
                )
        except IntegrityError as err:
            raise AlreadyDispatching(pk=pk) from err
        outcome = offer_next(model, opts, chain, row, content_type, using)
        if isinstance(outcome, str):
            raise NoCandidate(pk=pk)  # and the chain is rolled back
        return outcome


def stop_dispatch(
    model: type[models.Model], pk: Any, *, using: str | None = None
) -> bool:
    """End the running chain of ``pk`` (if any); its open offer stays open.

    Returns whether a chain was running. The assignment is then the
    dispatcher's again: an ending of the open offer takes no further step.
    """
    opts = options_for(model)
    using = using or router.db_for_write(model)
    pk = opts.key(pk, using)
    content_type = ContentType.objects.db_manager(using).get_for_model(model).pk
    return bool(
        _end(
            DispatchChain.objects.using(using).filter(
                content_type_id=content_type, running_pk=str(pk)
            ),
            ChainState.STOPPED,
            ChainEnd.STOPPED,
        )
    )


def running_chain(
    model: type[models.Model], pk: Any, *, using: str | None = None
) -> DispatchChain | None:
    """The chain running for ``pk``, or None."""
    opts = options_for(model)
    using = using or router.db_for_read(model)
    content_type = ContentType.objects.db_manager(using).get_for_model(model).pk
    return (
        DispatchChain.objects.using(using)
        .filter(content_type_id=content_type, running_pk=str(opts.key(pk, using)))
        .first()
    )


def advance_chains(events: Iterable[AssignmentEvent]) -> dict[int, str]:
    """Take the step each event calls for; the relay calls it for a claimed batch.

    Returns the events whose step failed, with the error (the relay tries
    them again later, so their step is taken before they are delivered).
    Events of models without a policy, or of assignments with no running
    chain, cost one query per model and batch, and nothing else.
    """
    by_type: dict[int, list[AssignmentEvent]] = defaultdict(list)
    for event in events:
        if event.kind in STEP_KINDS:
            by_type[event.content_type_id].append(event)
    failed: dict[int, str] = {}
    for content_type, group in by_type.items():
        using = group[0]._state.db or router.db_for_write(AssignmentEvent)
        model = ContentType.objects.db_manager(using).get_for_id(content_type)
        model_class = model.model_class()
        if model_class is None or options_for(model_class).dispatch is None:
            continue
        # The running chains' latest attempts: an event that can not move its
        # chain (the chain's own offer, an ending of an older offer) is
        # skipped here rather than in a transaction of its own. advance()
        # decides again under the chain's lock.
        running = dict(
            DispatchChain.objects.using(using)
            .filter(
                content_type_id=content_type,
                running_pk__in={e.object_pk for e in group},
            )
            .values_list("running_pk", "attempt")
        )
        for event in group:
            attempt = running.get(event.object_pk)
            if attempt is None or (
                event.attempt <= attempt
                if event.kind == EventKind.OFFERED
                else event.attempt != attempt
            ):
                continue
            try:
                advance(model_class, event)
            except Exception as err:
                logger.exception(
                    "The dispatch step after event %s failed; it is retried "
                    "with the event.",
                    event.pk,
                )
                failed[event.pk] = f"dispatch step failed: {type(err).__name__}: {err}"
    return failed


def advance(model: type[models.Model], event: AssignmentEvent) -> None:
    """Take the step ``event`` calls for in its assignment's running chain, once."""
    opts = options_for(model)
    using = event._state.db or router.db_for_write(model)
    chains = DispatchChain.objects.using(using).filter(
        content_type_id=event.content_type_id, running_pk=event.object_pk
    )
    with transaction.atomic(using=using):
        if event.kind == EventKind.OFFERED:
            # Not the chain's own offer (that one moved the chain in its own
            # transaction): the dispatcher offered it by hand.
            _end(
                chains.filter(attempt__lt=event.attempt),
                ChainState.STOPPED,
                ChainEnd.SUPERSEDED,
            )
            return
        own = chains.filter(attempt=event.attempt)
        chain = _claim(own, using)
        if chain is None:
            return
        if event.kind == EventKind.ACCEPTED:
            _end(own, ChainState.ACCEPTED, ChainEnd.ACCEPTED)
            return
        if event.kind == EventKind.WITHDRAWN:
            _end(own, ChainState.STOPPED, ChainEnd.WITHDRAWN)
            return
        row = model._base_manager.using(using).filter(pk=chain.object_pk).first()
        if (
            opts.dispatch.strategy == "broadcast"
            and row is not None
            and getattr(row, ATTEMPT) == chain.attempt
        ):
            # A broadcast round's decline: the round may still be open, or
            # another candidate took it since (its own event ends the chain
            # too, whichever comes first). A single offer's ending always
            # leaves the row pending or offered again.
            status = getattr(row, opts.status_attname)
            if status == opts.offered:
                return
            if status == opts.accepted:
                _end(own, ChainState.ACCEPTED, ChainEnd.ACCEPTED)
                return
        if (
            row is None
            or getattr(row, opts.status_attname) != opts.pending
            or getattr(row, ATTEMPT) != chain.attempt
        ):
            _end(own, ChainState.STOPPED, ChainEnd.SUPERSEDED)
            return
        try:
            outcome = offer_next(
                model,
                opts,
                chain,
                row,
                event.content_type_id,
                using,
                past_deadline=chain.past_deadline,
            )
        except TransitionError:
            # Offered, taken or deleted since the row was read.
            _end(own, ChainState.STOPPED, ChainEnd.SUPERSEDED)
            return
        if isinstance(outcome, str):
            _end(own, ChainState.EXHAUSTED, outcome)
            exhausted = AssignmentEvent.objects.using(using).record(
                model,
                row.pk,
                chain.attempt,
                EventKind.EXHAUSTED,
                event.assignee_pk,
                reason=outcome,
            )
            transaction.on_commit(
                partial(
                    after_exhausted, model, row.pk, chain.attempt, outcome, exhausted
                ),
                using=using,
                robust=True,
            )


# -- internals ---------------------------------------------------------------


def _policy(opts: AssignmentOptions) -> Any:
    if opts.dispatch is None:
        raise ConfigurationError(
            f"{opts.model._meta.label} declares no dispatch policy "
            "(AssignmentMeta.dispatch)."
        )
    return opts.dispatch


def _claim(own: Any, using: str) -> Any:
    """Lock the chain for this step and read it (annotated ``past_deadline``);
    None when the step is not this one's.

    The lock holds the chain row until the commit, so a second relay with the
    same event waits and then finds the chain moved on (its attempt changed)
    or ended: nothing to claim.
    """
    chain = own.annotate(
        past_deadline=Case(
            When(deadline__lte=DatabaseNow(), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
    if connections[using].features.has_select_for_update:
        # One locking read claims and reads. At most one row (running_pk is
        # unique per type), and no ORDER BY: first() would add one by pk,
        # which lets the planner walk the primary key past every ended chain.
        return next(iter(chain.select_for_update()), None)
    # SQLite locks nothing on a read: a write claims first, so that a second
    # step waits for this one's lock rather than failing on a stale read.
    if not own.update(offers=F("offers")):
        return None
    return chain.get()


def _end(chains: Any, state: str, reason: str) -> int:
    """End the running chains of ``chains``; how many there were."""
    return int(
        chains.filter(state=ChainState.RUNNING).update(
            state=state, end_reason=reason, running_pk=None, ended_at=DatabaseNow()
        )
    )
