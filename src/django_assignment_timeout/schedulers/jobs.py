"""The three jobs every scheduler backend runs, as plain functions.

Celery, Huey and Django's tasks framework wrap these in their own task
decorators; a project can also call them directly (the GTS example wraps
:func:`run_sweep` in its own ``logistics.check_expired_driver_assignments``
task). They import no optional integration.

The stable task names and the re-check rule the backends' tasks share are
in :mod:`.protocol`, which imports nothing of the core, so that a project's
``celery.py`` can import a backend before the app registry is ready.

Every job is safe to run twice, late, early or at the same time as another:
it re-checks on the database clock and does nothing when there is nothing to
do (DESIGN.md, invariant 4).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from django.apps import apps

from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.exceptions import (
    InvalidArgument,
    OfferNotDue,
    TransitionError,
)
from django_assignment_timeout.lifecycle import expire
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, is_adopter
from django_assignment_timeout.retention import prune_periodically
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.validation import require_positive_ints

__all__ = ["deliver", "expire_offer", "model_for", "run_sweep"]

logger = logging.getLogger("django_assignment_timeout")


def run_sweep() -> dict[str, int]:
    """Expire every due offer, deliver pending notifications, prune if configured.

    Returns ``{"expired_count": N}``. A failing delivery is logged and does
    not hide the expiries, which are already committed.
    """
    result = sweep()
    _deliver_quietly()
    prune_periodically()
    return result.as_dict()


def deliver() -> dict[str, Any]:
    """Deliver due, undelivered events; returns the relay's counts."""
    return asdict(deliver_pending())


def expire_offer(model_label: str, pk: Any, attempt: int) -> dict[str, Any]:
    """Expire offer ``attempt`` of assignment ``pk`` if it is due now.

    The precise per-offer job. It never touches another attempt, and an early
    run (eager mode, a worker whose clock runs ahead), a duplicate, or a run
    after the offer was answered does nothing. Returns ``{"expired": bool,
    "reason": code, "retry_in": seconds or None}``: ``retry_in`` is set when
    the offer is still open but not due by the database clock, so a backend
    that can re-schedule may try again then instead of waiting for a sweep.
    """
    model = model_for(model_label)
    require_positive_ints(attempt=attempt)
    try:
        expire(model, pk, attempt=attempt)
    except OfferNotDue as err:
        retry_in = _seconds_left(model, pk, attempt)
        return {"expired": False, "reason": err.code, "retry_in": retry_in}
    except TransitionError as err:
        # Answered, already expired by a sweep, re-offered, or deleted:
        # the trigger is stale and harmless.
        return {"expired": False, "reason": err.code, "retry_in": None}
    return {"expired": True, "reason": "expired", "retry_in": None}


def model_for(label: str) -> Any:
    """The installed model that uses the mixin named ``label`` (``app.Model``)."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError, TypeError, AttributeError) as err:
        raise InvalidArgument(f"{label!r} is not an installed model.") from err
    if not is_adopter(model):
        raise InvalidArgument(f"{label} does not use ExpiringAssignmentMixin.")
    return model


def _seconds_left(model: Any, pk: Any, attempt: int) -> float | None:
    """Seconds until the offer is due, on the database clock (None if it is gone)."""
    row = (
        model._base_manager.filter(pk=pk, **{ATTEMPT: attempt})
        .annotate(_db_now=DatabaseNow())
        .values_list(EXPIRES_AT, "_db_now")
        .first()
    )
    if row is None or row[0] is None:
        return None
    deadline, now = row
    left: float = (deadline - now).total_seconds()
    return max(left, 0.0)


def _deliver_quietly() -> None:
    try:
        deliver()
    except Exception:
        logger.exception("Delivery after the sweep failed; the next run retries it.")
