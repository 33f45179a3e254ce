"""The tutorial's model: a repair job offered to one technician at a time."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from django_assignment_timeout.models import ExpiringAssignmentMixin


class Repair(ExpiringAssignmentMixin):
    """A repair job. A dispatcher offers it to a technician, who must accept in time."""

    class Status(models.TextChoices):
        OPEN = "open"
        OFFERED = "offered"
        TAKEN = "taken"
        DONE = "done"  # the library leaves statuses it was not told about alone

    title = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class AssignmentMeta:
        status_field = "status"
        pending = "open"
        offered = "offered"
        accepted = "taken"
        assignee_field = "technician"
        timeout = 600  # ten minutes to accept, unless an offer says otherwise

    def __str__(self) -> str:
        return self.title
