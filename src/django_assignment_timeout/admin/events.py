"""The admin of the event model: a read-only audit trail and outbox, and its inline.

Events change only through the lifecycle and the relay; the one action
re-queues dead events for delivery. Each event's page lists the recipients
that did not get it at once (:mod:`~django_assignment_timeout.admin.recipients`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.db import router, transaction
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_assignment_timeout.admin.read_only import ReadOnlyModelAdmin
from django_assignment_timeout.admin.recipients import RecipientDeliveryInline
from django_assignment_timeout.after_commit import schedule_delivery
from django_assignment_timeout.delivery import requeue_dead
from django_assignment_timeout.events import (
    AssignmentEvent,
    AssignmentEventQuerySet,
    DeliveryState,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

__all__ = [
    "AssignmentEventAdmin",
    "AssignmentEventInline",
    "DeliveryFilter",
    "assignment_link",
    "requeue_dead_events",
]


class AssignmentEventInline(GenericTabularInline):
    """An assignment's history of offers and their delivery state, read-only."""

    model = AssignmentEvent
    ct_field = "content_type"
    ct_fk_field = "object_pk"
    fields = (
        "created_at",
        "attempt",
        "kind",
        "assignee_pk",
        "deadline",
        "reason",
        "delivery_state",
        "delivery_attempts",
        "delivered_at",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False
    verbose_name = _("offer history")
    verbose_name_plural = _("offer history")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Events are written by the lifecycle only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The history is an audit trail."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The history is an audit trail."""
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whoever may see the assignment may see its history."""
        meta = self.parent_model._meta
        user = request.user
        return user.has_perm(
            f"{meta.app_label}.view_{meta.model_name}"
        ) or user.has_perm(f"{meta.app_label}.change_{meta.model_name}")


class DeliveryFilter(admin.SimpleListFilter):
    """Filter events by where they are in the notification relay."""

    title = _("delivery")
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        """Undelivered (still being tried), dead (given up), delivered."""
        return [
            ("undelivered", _("undelivered")),
            ("dead", _("dead")),
            ("delivered", _("delivered")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        """Narrow ``queryset`` to the chosen delivery state."""
        value = self.value()
        if value == "undelivered":
            return queryset.filter(delivery_state=DeliveryState.PENDING)
        if value == "dead":
            return queryset.filter(delivery_state=DeliveryState.DEAD)
        if value == "delivered":
            return queryset.filter(delivery_state=DeliveryState.DELIVERED)
        return None


def assignment_link(site: admin.AdminSite, content_type: Any, object_pk: str) -> str:
    """An assignment's type and key, linked to its page on ``site`` when it has one."""
    label = f"{content_type.name} {object_pk}"
    try:
        url = reverse(
            f"{site.name}:{content_type.app_label}_{content_type.model}_change",
            args=[object_pk],
        )
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


def requeue_dead_events(queryset: QuerySet[AssignmentEvent]) -> int:
    """Give the dead events among ``queryset`` a fresh round of delivery tries.

    The relay's own :func:`.delivery.requeue_dead` resets them; delivery is
    triggered once the change has committed.
    """
    using = router.db_for_write(AssignmentEvent)
    with transaction.atomic(using=using):
        count = requeue_dead(queryset.values_list("pk", flat=True))
        if count:
            transaction.on_commit(schedule_delivery, using=using, robust=True)
    return count


@admin.register(AssignmentEvent)
class AssignmentEventAdmin(ReadOnlyModelAdmin):
    """Read-only audit trail and outbox, with a re-queue action for dead events.

    Events are written by the lifecycle and the relay only; the trail, and
    exactly-once expiry's backstop, stay.
    """

    list_display = (
        "id",
        "assignment_link",
        "attempt",
        "kind",
        "assignee_pk",
        "created_at",
        "expiry_lateness",
        "delivery_state",
        "delivery_attempts",
        "next_attempt_at",
    )
    list_filter = (DeliveryFilter, "kind", "content_type")
    list_select_related = ("content_type",)
    search_fields = ("=object_pk", "=assignee_pk")
    ordering = ("-id",)
    actions = ("requeue_dead",)
    inlines = (RecipientDeliveryInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AssignmentEvent]:
        """Every event, with the lateness of each expiry computed in the query."""
        queryset: AssignmentEventQuerySet = super().get_queryset(request)  # type: ignore[assignment]
        return queryset.with_lateness()

    @admin.display(description=_("late by"), ordering="lateness", empty_value="")
    def expiry_lateness(self, obj: AssignmentEvent) -> str | None:
        """How long after its deadline an expired offer was expired, in seconds."""
        lateness = getattr(obj, "lateness", None)
        if lateness is None:
            return None
        return _("%(seconds).3f s") % {"seconds": lateness.total_seconds()}

    @admin.display(description=_("assignment"), ordering="object_pk")
    def assignment_link(self, obj: AssignmentEvent) -> str:
        """The assignment's type and key, linked to its admin page when it has one."""
        return assignment_link(self.admin_site, obj.content_type, obj.object_pk)

    @admin.action(
        description=_("Re-queue the selected dead events"), permissions=["change"]
    )
    def requeue_dead(
        self, request: HttpRequest, queryset: QuerySet[AssignmentEvent]
    ) -> None:
        """Send dead events through the relay again, from a fresh attempt count.

        An event with dead recipients is sent to those recipients only.
        """
        count = requeue_dead_events(queryset)
        skipped = queryset.count() - count
        self.message_user(
            request,
            ngettext(
                "Re-queued %(count)d dead event.",
                "Re-queued %(count)d dead events.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected event was not dead and was left alone.",
                    "%(count)d selected events were not dead and were left alone.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
