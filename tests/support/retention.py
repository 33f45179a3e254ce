"""Events of a given age and delivery state, for the retention tests."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.models import AssignmentEvent

DAY = 24 * 3600


def make_old(queryset, days=100):
    """Move the events of ``queryset`` ``days`` into the past, on the database clock."""
    return queryset.update(created_at=deadline_in(-days * DAY))


def events(
    model_or_type, pks, *, attempt=1, kind="offered", state="delivered", days=100
):
    """One event per key in ``pks``, ``days`` old, in ``state``; their ids, ascending.

    ``model_or_type`` is a model class or a ContentType (one of a model that
    no longer exists, say).
    """
    if isinstance(model_or_type, ContentType):
        content_type = model_or_type
    else:
        content_type = ContentType.objects.get_for_model(model_or_type)
    created = timezone.now() - timedelta(days=days)
    pending = state == "pending"
    rows = AssignmentEvent.objects.bulk_create(
        (
            AssignmentEvent(
                content_type=content_type,
                object_pk=str(pk),
                attempt=attempt,
                kind=kind,
                created_at=created,
                delivery_state=state,
                next_attempt_at=created if pending else None,
                delivered_at=created if state == "delivered" else None,
            )
            for pk in pks
        ),
        batch_size=1000,
    )
    if rows and rows[0].pk is None:  # MySQL's bulk_create returns no ids
        return list(
            AssignmentEvent.objects.filter(
                content_type=content_type,
                attempt=attempt,
                kind=kind,
                object_pk__in=[str(pk) for pk in pks],
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return sorted(row.pk for row in rows)
