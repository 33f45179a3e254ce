"""Arming: ETA tasks for offers whose deadline came within the horizon.

A precise backend sends no ETA task for a deadline beyond its horizon
(:mod:`.horizon`). Each periodic sweep tick then arms the open offers whose
deadline falls in a window just inside the horizon, so they are still expired
at their deadline. The window is a little longer than the tick interval: a
deadline falls in one tick's window, at most two, and arming twice is
harmless (the ETA task re-checks on the database clock). No state is kept:
a tick that did not run leaves its offers to the sweep, which expires them
anyway.

One indexed range query per model (the partial index on the deadline),
bounded by :data:`ARM_LIMIT` rows per tick.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import router

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, assignment_models
from django_assignment_timeout.schedulers import get_scheduler

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime

    from django.db import models

__all__ = ["ARM_LIMIT", "arm_scheduler", "arm_upcoming", "upcoming_offers"]

logger = logging.getLogger("django_assignment_timeout")

#: Offers one tick arms at most, all models together: sending is one publish
#: per offer, and a tick must stay short. Deadlines left over are expired by
#: the sweep, on time or up to one interval late.
ARM_LIMIT = 10_000


def upcoming_offers(
    low: float,
    high: float,
    *,
    limit: int = ARM_LIMIT,
    models: Iterable[type[models.Model]] | None = None,
) -> Iterator[tuple[type[models.Model], Any, int, datetime]]:
    """Open offers due in more than ``low`` and at most ``high`` seconds.

    Yields ``(model, pk, attempt, deadline)``, earliest deadline first within
    each model, at most ``limit`` in all; seconds are on the database clock.
    """
    left = limit
    for model in assignment_models() if models is None else models:
        if left <= 0:
            return
        rows = (
            model._base_manager.using(router.db_for_write(model))
            .filter(
                **{f"{EXPIRES_AT}__gt": deadline_in(low)},
                **{f"{EXPIRES_AT}__lte": deadline_in(high)},
            )
            .order_by(EXPIRES_AT)
            .values_list("pk", ATTEMPT, EXPIRES_AT)[:left]
        )
        for pk, attempt, deadline in rows:
            left -= 1
            yield model, pk, attempt, deadline


def arm_upcoming(
    send: Callable[[type[models.Model], Any, int, datetime], None],
    low: float,
    high: float,
    *,
    limit: int = ARM_LIMIT,
) -> int:
    """``send(model, pk, attempt, deadline)`` for each of :func:`upcoming_offers`.

    Returns how many were sent.
    """
    armed = 0
    for model, pk, attempt, deadline in upcoming_offers(low, high, limit=limit):
        send(model, pk, attempt, deadline)
        armed += 1
    if armed:
        logger.info("Armed %d ETA task(s) for deadlines now within the horizon.", armed)
    return armed


def arm_scheduler(interval: float) -> int:
    """Arm through the configured scheduler, if it has a horizon; never raises.

    What the periodic sweep tasks call after the sweep. A failure (a broker
    down) is logged: the offers it could not arm are expired by the sweep.
    """
    try:
        return get_scheduler().arm_upcoming(interval)
    except Exception:
        logger.exception("Arming ETA tasks failed; the sweep expires those offers.")
        return 0
