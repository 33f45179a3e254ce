"""When the next offer falls due, read from the deadlines' partial index.

A loop that knows the next deadline can sleep until then instead of waking
every interval: one index probe per model tells it, on the database clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import router

from django_assignment_timeout.clock import seconds_until_earliest
from django_assignment_timeout.options import EXPIRES_AT, assignment_models, options_for

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db import models

__all__ = ["next_deadline"]


def next_deadline(
    models: Iterable[type[models.Model]] | None = None,
) -> float | None:
    """Seconds until the earliest open offer's deadline among ``models``.

    ``models`` defaults to every model using the mixin. One query per model
    (the deadlines' partial index answers it with one probe), each computing
    the distance on the database clock. Negative when an offer is already
    due; ``None`` when no offer is open.
    """
    earliest: float | None = None
    for model in assignment_models() if models is None else models:
        opts = options_for(model)
        using = router.db_for_write(model)
        # The status condition is implied by the deadline's (the model's check
        # constraint), but keeps an offer that is not open out of the answer
        # should a project's rows break it.
        queryset = model._base_manager.using(using).filter(
            **{opts.status_field: opts.offered}
        )
        seconds = seconds_until_earliest(queryset, EXPIRES_AT)
        if seconds is not None and (earliest is None or seconds < earliest):
            earliest = seconds
    return earliest
