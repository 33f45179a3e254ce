"""Admin pages for the GTS models."""

from __future__ import annotations

from django.contrib import admin

from django_assignment_timeout.admin import AssignmentAdminMixin
from logistics.models import DBS, EIC, DeviceToken, Driver, StockRequest


@admin.register(DBS)
class DBSAdmin(admin.ModelAdmin):
    """Stations."""

    list_display = ["code", "name"]


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    """Drivers."""

    list_display = ["name", "user", "phone"]


@admin.register(EIC)
class EICAdmin(admin.ModelAdmin):
    """EICs and their station."""

    list_display = ["user", "dbs"]


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    """FCM device tokens."""

    list_display = ["user", "token", "active", "created_at"]
    list_filter = ["active"]


@admin.register(StockRequest)
class StockRequestAdmin(AssignmentAdminMixin, admin.ModelAdmin):
    """Stock requests; offer fields are read-only (only the lifecycle changes them)."""

    list_display = ["id", "dbs", "status", "target_driver", "assignment_expires_at"]
    list_filter = ["status", "dbs"]
    readonly_fields = [
        "status",
        "target_driver",
        "assignment_mode",
        "assignment_started_at",
        "assignment_expires_at",
        "assignment_attempt",
    ]
