"""The admin of per-recipient delivery state: dead letters recipient by recipient.

Rows exist only for recipients that did not get an event's notification at
once (:mod:`.recipient_delivery`). They are read-only, shown under their event
(:class:`RecipientDeliveryInline`) and in a list of their own, whose one
action re-queues the selected dead recipients alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db import router, transaction
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_assignment_timeout.after_commit import schedule_delivery
from django_assignment_timeout.delivery import requeue_recipients
from django_assignment_timeout.recipient_delivery import RecipientDelivery

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

__all__ = [
    "RecipientDeliveryAdmin",
    "RecipientDeliveryInline",
    "requeue_dead_recipients",
]

_FIELDS = ("recipient_key", "backend", "state", "failures", "updated_at", "last_error")


class RecipientDeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    """An event's recipients that did not get it at once, and where each stands."""

    model = RecipientDelivery
    fields = _FIELDS
    readonly_fields = _FIELDS
    ordering = ("pk",)
    extra = 0
    can_delete = False
    verbose_name = _("recipient that did not get it at once")
    verbose_name_plural = _("recipients that did not get it at once")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows are written by the relay only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows change through the relay and the re-queue action only."""
        return False


def requeue_dead_recipients(queryset: QuerySet[RecipientDelivery]) -> int:
    """Re-queue the dead recipients among ``queryset``; delivery runs after commit."""
    using = router.db_for_write(RecipientDelivery)
    with transaction.atomic(using=using):
        count = requeue_recipients(queryset.values_list("pk", flat=True))
        if count:
            transaction.on_commit(schedule_delivery, using=using, robust=True)
    return count


@admin.register(RecipientDelivery)
class RecipientDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every recipient that did not get an event at once; dead letters per recipient."""

    list_display = ("id", "event_link", *_FIELDS)
    list_filter = ("state", "backend")
    list_select_related = ("event",)
    search_fields = ("=recipient_key", "=event__id")
    ordering = ("-id",)
    actions = ("requeue_dead",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Every field: rows change through the relay and the re-queue action."""
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Rows are written by the relay only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A dead letter is evidence; rows go with their event (retention)."""
        return False

    @admin.display(description=_("event"), ordering="event")
    def event_link(self, obj: RecipientDelivery) -> str:
        """The event, linked to its admin page when it has one."""
        label = str(obj.event_id)
        try:
            url = reverse(
                f"{self.admin_site.name}:assignment_timeout_assignmentevent_change",
                args=[obj.event_id],
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.action(
        description=_("Re-queue the selected dead recipients"), permissions=["change"]
    )
    def requeue_dead(
        self, request: HttpRequest, queryset: QuerySet[RecipientDelivery]
    ) -> None:
        """Send to these dead recipients again, and only to them."""
        count = requeue_dead_recipients(queryset)
        self.message_user(
            request,
            ngettext(
                "Re-queued %(count)d dead recipient.",
                "Re-queued %(count)d dead recipients.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
        skipped = queryset.count() - count
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected recipient was left alone: not dead, or "
                    "its event is still being tried.",
                    "%(count)d selected recipients were left alone: not dead, or "
                    "their event is still being tried.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
