"""Who a chain offers an assignment to next: the policy's candidates, filtered and ordered.

Read inside the step's transaction, with the chain row locked: the order
is decided once per step, and the offer that follows is still conditional
(``after_attempt``), so a stale read can refuse an offer but never make two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count

from django_assignment_timeout.dispatch_chain import DispatchTurn
from django_assignment_timeout.events import AssignmentEvent, EventKind
from django_assignment_timeout.exceptions import ConfigurationError, InvalidArgument

if TYPE_CHECKING:
    from django.db import models

    from django_assignment_timeout.options import AssignmentOptions

__all__ = ["SPENT_KINDS", "eligible_candidates"]

#: Whoever ended an offer of this assignment this way is not offered it again.
SPENT_KINDS = (EventKind.REJECTED, EventKind.EXPIRED)


def eligible_candidates(
    instance: models.Model,
    opts: AssignmentOptions,
    content_type: int,
    using: str,
) -> list[Any]:
    """The assignee keys to offer ``instance`` to, best first.

    The policy's candidates method, as keys, without duplicates and without
    anyone who already rejected this assignment or let an offer of it
    expire (for a broadcast: anyone offered it before), in the policy's order.
    """
    policy = opts.dispatch
    keys = _candidate_keys(instance, opts, using)
    # A broadcast round's expiry names nobody: everyone offered a round
    # before is spent (they declined, let it expire, or the chain ended).
    spent_kinds = (
        (*SPENT_KINDS, EventKind.OFFERED)
        if policy.strategy == "broadcast"
        else SPENT_KINDS
    )
    spent = set(
        AssignmentEvent.objects.using(using)
        .filter(
            content_type=content_type,
            object_pk=str(instance.pk),
            kind__in=spent_kinds,
        )
        .values_list("assignee_pk", flat=True)
    )
    keys = [key for key in keys if str(key) not in spent]
    if len(keys) < 2 or policy.order == "given":
        return keys
    rank = {key: index for index, key in enumerate(keys)}
    if policy.order == "round_robin":
        last = dict(
            DispatchTurn.objects.using(using)
            .filter(content_type=content_type, assignee_pk__in=[str(k) for k in keys])
            .values_list("assignee_pk", "last_offered_at")
        )
        # Never offered first (in the given order), then least recently.
        return sorted(
            keys,
            key=lambda k: (str(k) in last, last.get(str(k)) or 0, rank[k]),
        )
    load = dict(
        opts.model._base_manager.using(using)
        .filter(
            **{
                f"{opts.assignee_attname}__in": keys,
                f"{opts.status_field}__in": [opts.offered, opts.accepted],
            }
        )
        .order_by()
        .values(opts.assignee_attname)
        .annotate(n=Count("pk"))
        .values_list(opts.assignee_attname, "n")
    )
    return sorted(keys, key=lambda k: (load.get(k, 0), rank[k]))


def _candidate_keys(instance: Any, opts: AssignmentOptions, using: str) -> list[Any]:
    where = f"{opts.model._meta.label}.{opts.dispatch.candidates}()"
    method = getattr(instance, opts.dispatch.candidates)
    try:
        found = method()
    except Exception as err:
        raise ConfigurationError(
            f"{where} raised {type(err).__name__} for "
            f"{opts.model._meta.verbose_name} {instance.pk}: {err}"
        ) from err
    if found is None:
        return []
    keys: list[Any] = []
    seen: set[Any] = set()
    try:
        for candidate in found:
            key = opts.assignee_pk(candidate, using)
            if key not in seen:
                seen.add(key)
                keys.append(key)
    except InvalidArgument as err:
        raise ConfigurationError(f"{where} returned a bad candidate: {err}") from err
    except TypeError as err:
        raise ConfigurationError(
            f"{where} must return an iterable of assignees, not {type(found).__name__}."
        ) from err
    return keys
