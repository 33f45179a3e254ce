"""Reading what the scheduler tests assert on: expired events and offer state."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType

from django_assignment_timeout.models import AssignmentEvent


def expired_events(model: Any, pk: Any, attempt: int | None = None) -> int:
    """How many ``expired`` events assignment ``pk`` has (for ``attempt``, if given)."""
    events = AssignmentEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=str(pk),
        kind="expired",
    )
    if attempt is not None:
        events = events.filter(attempt=attempt)
    return events.count()


def status(model: Any, pk: Any) -> tuple[Any, int]:
    """(status, attempt) of a StockRequest as stored now."""
    row: tuple[Any, int] = model._base_manager.values_list(
        "status", "assignment_attempt"
    ).get(pk=pk)
    return row
