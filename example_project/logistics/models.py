"""GTS's models: DBS stations, drivers, EIC users, device tokens, stock requests.

``StockRequest`` adopts the library's mixin under the names the GTS backend
already had (``status`` with ``PENDING`` / ``ASSIGNING`` / ``ASSIGNED``,
``target_driver``, ``assignment_started_at``, ``assignment_mode``); the
mixin adds only the stored deadline and the attempt counter.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.policies import Sequential


class DBS(models.Model):
    """A dealer/daughter booster station: where stock requests come from."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("DBS")
        verbose_name_plural = _("DBS stations")

    def __str__(self) -> str:
        return self.name


class Driver(models.Model):
    """A truck driver, who logs in with their own user account."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="driver"
    )
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=20, blank=True, default="")
    # The stations the driver serves: who auto-dispatch offers a DBS's
    # requests to. Manual assignment may still pick any driver.
    stations = models.ManyToManyField(
        DBS, related_name="drivers", blank=True, verbose_name=_("stations")
    )

    def __str__(self) -> str:
        return self.name


class EIC(models.Model):
    """An engineer-in-charge: dispatches the stock requests of one DBS."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="eic"
    )
    dbs = models.ForeignKey(DBS, on_delete=models.CASCADE, related_name="eics")

    class Meta:
        verbose_name = _("EIC")
        verbose_name_plural = _("EICs")

    def __str__(self) -> str:
        return f"{self.user} ({self.dbs})"


class DeviceToken(models.Model):
    """An FCM registration token of one user's device."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="device_tokens"
    )
    token = models.CharField(_("FCM token"), max_length=255, unique=True)
    # Turned off when FCM says the token is gone (the fcm_token_invalid signal).
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.token[:12]}…"


class StockRequest(ExpiringAssignmentMixin):
    """A DBS's request for stock, offered to one driver at a time."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        ASSIGNING = "ASSIGNING", _("Assigning")
        ASSIGNED = "ASSIGNED", _("Assigned")
        IN_TRANSIT = "IN_TRANSIT", _("In transit")
        DELIVERED = "DELIVERED", _("Delivered")
        CANCELLED = "CANCELLED", _("Cancelled")

    class Mode(models.TextChoices):
        MANUAL = "MANUAL", _("Manual")
        AUTO = "AUTO", _("Automatic")

    dbs = models.ForeignKey(
        DBS, on_delete=models.CASCADE, related_name="stock_requests"
    )
    quantity_kg = models.PositiveIntegerField(_("quantity (kg)"), default=0)
    status = models.CharField(
        _("status"), max_length=20, choices=Status, default=Status.PENDING
    )
    target_driver = models.ForeignKey(
        Driver,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="offered_stock_requests",
    )
    # Nullable as in GTS's existing table: an expired offer clears it to NULL.
    assignment_mode = models.CharField(  # noqa: DJ001
        _("assignment mode"), max_length=10, choices=Mode, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class AssignmentMeta:
        status_field = "status"
        pending = "PENDING"
        offered = "ASSIGNING"
        accepted = "ASSIGNED"
        assignee_field = "target_driver"
        clear_fields = ["assignment_mode"]
        timeout = "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS"
        # Auto-dispatch: offered to the station's free drivers one at a time,
        # least recently offered first, three offers at most. It runs only
        # when the EIC starts it (start_dispatch); manual stays the default.
        dispatch = Sequential(
            candidates="dispatch_candidates",
            order="round_robin",
            max_attempts=3,
            offer_values={"assignment_mode": "AUTO"},
        )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Stock request {self.pk} for {self.dbs}"

    def dispatch_candidates(self) -> models.QuerySet[Driver]:
        """The DBS's drivers who hold no open offer and no trip in progress."""
        busy = StockRequest.objects.filter(
            status__in=[
                self.Status.ASSIGNING,
                self.Status.ASSIGNED,
                self.Status.IN_TRANSIT,
            ],
            # NOT IN over a NULL matches nothing: leave driverless rows out.
            target_driver__isnull=False,
        ).values("target_driver")
        return (
            Driver.objects.filter(stations=self.dbs_id)
            .exclude(pk__in=busy)
            .order_by("name", "pk")
        )

    def assignment_notifications(self, event: Any) -> list[Any]:
        """Expired and rejected offers go to the DBS's EICs, offers to the driver."""
        from logistics.notifications import for_event

        return for_event(self, event)
