"""What runs after a transition commits: signals, then the scheduler's triggers.

Nothing here may undo or fail a committed change, so every failure is logged
and swallowed: schedulers are triggers, not truth, and the next sweep repairs
what a lost trigger left behind.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db import models
    from django.dispatch import Signal

logger = logging.getLogger("django_assignment_timeout")


def send_signal(signal: Signal, sender: type[models.Model], **kwargs: Any) -> None:
    """Send ``signal``; a failing receiver is logged and does not stop the others."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %r of a %s signal failed", receiver, sender, exc_info=result
            )


def schedule_expiry(
    model: type[models.Model], pk: Any, attempt: int, deadline: Any
) -> None:
    """Ask the scheduler to expire one offer at its deadline."""
    from django_assignment_timeout.schedulers import get_scheduler

    try:
        get_scheduler().schedule_expiry(model, pk, attempt, deadline)
    except Exception:
        logger.exception(
            "Could not schedule the expiry of %s %s (attempt %s); the sweep will expire it.",
            model._meta.label,
            pk,
            attempt,
        )


def schedule_delivery() -> None:
    """Ask the scheduler to deliver the events just written."""
    from django_assignment_timeout.schedulers import get_scheduler

    try:
        get_scheduler().schedule_delivery()
    except Exception:
        logger.exception(
            "Could not trigger notification delivery; the next sweep will deliver."
        )
