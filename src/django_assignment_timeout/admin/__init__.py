"""Django admin: a ModelAdmin mixin for adopting models, and the event admin.

Every lifecycle state change the admin offers is an action that goes through
:mod:`.lifecycle` (one conditional UPDATE plus its event row): "offer to…",
"withdraw", "expire now". The forms can not make one: the fields the
lifecycle owns are read-only and the status can not be set to a lifecycle
state by hand (:mod:`.guard`), so a raw field edit can not break the
invariants. :mod:`.assignments` holds the mixin, :mod:`.offering` the offer
action, :mod:`.events` the event admin,
:mod:`~django_assignment_timeout.admin.recipients` the per-recipient
delivery admin and :mod:`~django_assignment_timeout.admin.dispatch` the
dispatch chain admin and the "start / stop auto-dispatch" actions (the three
admins registered when Django's admin autodiscovers this module).

Adopt it on your own model::

    from django.contrib import admin
    from django_assignment_timeout.admin import AssignmentAdminMixin

    @admin.register(StockRequest)
    class StockRequestAdmin(AssignmentAdminMixin, admin.ModelAdmin):
        list_display = ["id", "assignment_state"]
"""

from __future__ import annotations

from django_assignment_timeout.admin.assignments import (
    RECENT_EXPIRY,
    AssignmentAdmin,
    AssignmentAdminMixin,
    AssignmentStateFilter,
    format_seconds,
)
from django_assignment_timeout.admin.dispatch import (
    DispatchAdminMixin,
    DispatchChainAdmin,
    DispatchChainInline,
)
from django_assignment_timeout.admin.events import (
    AssignmentEventAdmin,
    AssignmentEventInline,
    DeliveryFilter,
    requeue_dead_events,
)
from django_assignment_timeout.admin.recipients import (
    RecipientDeliveryAdmin,
    RecipientDeliveryInline,
    requeue_dead_recipients,
)

__all__ = [
    "RECENT_EXPIRY",
    "AssignmentAdmin",
    "AssignmentAdminMixin",
    "AssignmentEventAdmin",
    "AssignmentEventInline",
    "AssignmentStateFilter",
    "DeliveryFilter",
    "DispatchAdminMixin",
    "DispatchChainAdmin",
    "DispatchChainInline",
    "RecipientDeliveryAdmin",
    "RecipientDeliveryInline",
    "format_seconds",
    "requeue_dead_events",
    "requeue_dead_recipients",
]
