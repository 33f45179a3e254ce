"""Concrete models that adopt the mixin with different names and values."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.policies import Broadcast, Sequential


class Driver(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class StockRequest(ExpiringAssignmentMixin):
    """GTS's shape: upper-case statuses, a driver, a mode cleared on expiry."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        ASSIGNING = "ASSIGNING"
        ASSIGNED = "ASSIGNED"
        IN_TRANSIT = "IN_TRANSIT"
        DELIVERED = "DELIVERED"

    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    target_driver = models.ForeignKey(
        Driver, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Nullable: expiry clears it to NULL, as the GTS guide says its sweep does.
    assignment_mode = models.CharField(max_length=10, null=True, blank=True)  # noqa: DJ001
    note = models.CharField(max_length=50, blank=True, default="")

    class AssignmentMeta:
        status_field = "status"
        pending = "PENDING"
        offered = "ASSIGNING"
        accepted = "ASSIGNED"
        assignee_field = "target_driver"
        clear_fields = ["assignment_mode"]
        timeout = "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS"


class Ticket(ExpiringAssignmentMixin):
    """The library's default names, an integer status, a UUID key, a user assignee."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    state = models.PositiveSmallIntegerField(
        choices=[(0, "open"), (1, "offered"), (2, "taken"), (3, "closed")], default=0
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    priority = models.PositiveSmallIntegerField(default=0)
    queue = models.CharField(max_length=20, blank=True, default="")

    class AssignmentMeta:
        status_field = "state"
        pending, offered, accepted = 0, 1, 2
        clear_fields = ("queue",)
        timeout = 120


class Job(ExpiringAssignmentMixin):
    """A dispatch policy: the drivers whose name starts with the pool, in key order."""

    status = models.CharField(max_length=10, default="pending")
    assignee = models.ForeignKey(
        Driver, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pool = models.CharField(max_length=20, blank=True, default="")

    def dispatch_candidates(self) -> models.QuerySet[Driver]:
        return Driver.objects.filter(name__startswith=self.pool).order_by("pk")

    class AssignmentMeta:
        timeout = "TESTAPP_JOB_TIMEOUT_SECONDS"
        dispatch = Sequential(candidates="dispatch_candidates", max_attempts=3)


class Load(ExpiringAssignmentMixin):
    """A broadcast policy: rounds of three of the pool's drivers, in key order."""

    status = models.CharField(max_length=10, default="pending")
    assignee = models.ForeignKey(
        Driver, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pool = models.CharField(max_length=20, blank=True, default="")

    def dispatch_candidates(self) -> models.QuerySet[Driver]:
        return Driver.objects.filter(name__startswith=self.pool).order_by("pk")

    class AssignmentMeta:
        timeout = "TESTAPP_JOB_TIMEOUT_SECONDS"
        dispatch = Broadcast(candidates="dispatch_candidates", size=3, max_rounds=2)
