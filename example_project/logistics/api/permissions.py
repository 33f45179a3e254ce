"""Who may call what: drivers answer their own offers, EICs assign for their DBS."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission


def driver_of(user: Any) -> Any:
    """The user's Driver profile, or None."""
    return getattr(user, "driver", None) if user.is_authenticated else None


def eic_of(user: Any) -> Any:
    """The user's EIC profile, or None."""
    return getattr(user, "eic", None) if user.is_authenticated else None


class IsDriver(BasePermission):
    """The caller has a Driver profile."""

    message = "Only drivers can do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return driver_of(request.user) is not None


class IsEIC(BasePermission):
    """The caller is an EIC; objects must belong to the EIC's DBS."""

    message = "Only an EIC can do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return eic_of(request.user) is not None

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return bool(obj.dbs_id == eic_of(request.user).dbs_id)
