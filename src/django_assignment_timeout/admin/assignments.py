"""The admin of a model that adopts the mixin: a ModelAdmin mixin and a ready admin.

State changes go through the lifecycle only; see the package's docstring
(:mod:`django_assignment_timeout.admin`) for how to adopt it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.db import models, router, transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Replace
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.admin.dispatch import DispatchAdminMixin
from django_assignment_timeout.admin.events import AssignmentEventInline
from django_assignment_timeout.admin.guard import lifecycle_guarded
from django_assignment_timeout.admin.offering import offer_selected
from django_assignment_timeout.admin.open_offers import OpenOfferActions
from django_assignment_timeout.clock import DatabaseNow, deadline_in
from django_assignment_timeout.events import AssignmentEvent, EventKind
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    options_for,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest
    from django.template.response import TemplateResponse

__all__ = [
    "RECENT_EXPIRY",
    "AssignmentAdmin",
    "AssignmentAdminMixin",
    "AssignmentStateFilter",
    "format_seconds",
]

#: How far back the "expired recently" filter looks.
RECENT_EXPIRY = timedelta(hours=1)

# The database clock, selected with each row so that "time left" agrees with
# the clock the lifecycle decides on, not with the web worker's.
_DB_NOW = "_assignment_db_now"


def format_seconds(seconds: float) -> str:
    """``75.2`` -> ``"1:15"``; hours when needed (``"1:02:03"``)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def _status_label(obj: models.Model, field_name: str) -> str:
    field = obj._meta.get_field(field_name)
    value = getattr(obj, field.attname)  # type: ignore[union-attr]
    return str(dict(field.flatchoices).get(value, value))  # type: ignore[union-attr]


class AssignmentStateFilter(admin.SimpleListFilter):
    """Filter by offer state: open, past its deadline, or expired recently."""

    title = _("offer")
    parameter_name = "offer"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        """The three states a dispatcher looks for."""
        return [
            ("offered", _("offered, before the deadline")),
            ("due", _("past the deadline, not yet swept")),
            ("expired_recently", _("expired in the last hour")),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        """Narrow ``queryset`` to the chosen state (on the database clock)."""
        value = self.value()
        opts = options_for(queryset.model)
        if value in ("offered", "due"):
            lookup = "__gt" if value == "offered" else "__lte"
            return queryset.filter(
                **{opts.status_field: opts.offered, EXPIRES_AT + lookup: DatabaseNow()}
            )
        if value == "expired_recently":
            return queryset.filter(_recently_expired(queryset.model))
        return None


def _recently_expired(model: type[models.Model]) -> Exists:
    """Rows with an ``expired`` event written within :data:`RECENT_EXPIRY`."""
    # Event rows store str(pk). A UUID key is str()-ed with hyphens but cast
    # by SQLite and MySQL to 32 bare hex digits, so compare both without them.
    events = AssignmentEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        kind=EventKind.EXPIRED,
        created_at__gte=deadline_in(-RECENT_EXPIRY.total_seconds()),
    )
    outer = Cast(OuterRef("pk"), output_field=CharField())
    if isinstance(model._meta.pk, models.UUIDField):
        events = events.annotate(
            _bare_pk=Replace("object_pk", Value("-"), Value(""))
        ).filter(_bare_pk=Replace(outer, Value("-"), Value("")))
    else:
        # Plain comparison, so the (content_type, object_pk, ...) index serves it.
        events = events.filter(object_pk=outer)
    return Exists(events)


class AssignmentAdminMixin(DispatchAdminMixin, OpenOfferActions):
    """ModelAdmin mixin for a model that uses :class:`.ExpiringAssignmentMixin`.

    Adds an ``assignment_state`` column (state, assignee, time left on the
    database clock), the :class:`AssignmentStateFilter`, the "offer to…"
    action (through :func:`.lifecycle.offer`), the "expire now",
    "withdraw offer" and "5 more minutes" actions (through
    :func:`.lifecycle.expire`, :func:`.lifecycle.withdraw` and
    :func:`.lifecycle.extend`), the
    offer history inline, and keeps the forms out of the lifecycle: the
    mixin's fields and the assignee are read-only, a new row is created
    pending, and an existing row's status can not be set to another
    lifecycle state by hand, nor changed while an offer runs
    (:func:`.guard.lifecycle_guarded`).
    """

    #: Appended to the list filters and actions the admin declares itself.
    assignment_list_filter: tuple[Any, ...] = (AssignmentStateFilter,)
    assignment_actions: tuple[str, ...] = (
        "offer_to",
        "expire_now",
        "withdraw_offer",
        "extend_offer",
    )
    # Annotation only, no value: ModelAdmin's own actions still applies; this
    # tells mypy the type __init__ reads and writes.
    actions: Sequence[Any] | None
    assignment_inline: type[admin.options.InlineModelAdmin[Any, Any]] | None = (
        AssignmentEventInline
    )

    model: type[models.Model]

    # -- queryset and columns ---------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The admin's queryset, with the database clock selected for "time left"."""
        opts = options_for(self.model)
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        # The column names the assignee: one join instead of a query per row.
        annotated: QuerySet[Any] = queryset.select_related(
            opts.assignee_field
        ).annotate(**{_DB_NOW: DatabaseNow()})
        return annotated

    @admin.display(description=_("offer"))
    def assignment_state(self, obj: models.Model) -> str:
        """State, assignee and time left, e.g. ``ASSIGNING to Ravi, 4:12 left``."""
        opts = options_for(type(obj))
        label = _status_label(obj, opts.status_field)
        deadline = getattr(obj, EXPIRES_AT)
        if getattr(obj, opts.status_attname) != opts.offered or deadline is None:
            return label
        assignee = getattr(obj, opts.assignee_field)
        now = getattr(obj, _DB_NOW, None) or timezone.now()
        left = (deadline - now).total_seconds()
        if left > 0:
            text = _("%(state)s to %(who)s, %(left)s left") % {
                "state": label,
                "who": assignee,
                "left": format_seconds(left),
            }
        else:
            text = _("%(state)s to %(who)s, due %(ago)s ago (not swept yet)") % {
                "state": label,
                "who": assignee,
                "ago": format_seconds(-left),
            }
        return format_html(
            '<span class="assignment-offer" data-deadline="{}">{}</span>',
            deadline.isoformat(),
            text,
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        """The declared columns, plus ``assignment_state`` when not already there."""
        columns = list(super().get_list_display(request))  # type: ignore[misc]
        if "assignment_state" not in columns:
            columns.append("assignment_state")
        return columns

    def get_list_filter(self, request: HttpRequest) -> Any:
        """The declared filters, plus the offer-state filter."""
        filters = list(super().get_list_filter(request))  # type: ignore[misc]
        return filters + [f for f in self.assignment_list_filter if f not in filters]

    # -- form: the lifecycle's fields are read-only -----------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """The mixin's fields and the assignee always; the status while offered."""
        opts = options_for(self.model)
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        locked = [STARTED_AT, EXPIRES_AT, ATTEMPT, opts.assignee_field]
        if obj is not None and getattr(obj, opts.status_attname) == opts.offered:
            # Changing it would leave a deadline on a row that is not offered.
            locked.append(opts.status_field)
        return fields + [name for name in locked if name not in fields]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """The add and change form, unable to move a row into a lifecycle state."""
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        return lifecycle_guarded(form)

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        """The ``list_editable`` form, with the same guard as the change form."""
        form = super().get_changelist_form(request, **kwargs)  # type: ignore[misc]
        return lifecycle_guarded(form)

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        """Save an edit without writing back what the lifecycle owns.

        The row was read when the form was posted; an offer, an answer or an
        expiry may commit before it is saved. So an edit writes only the
        columns the lifecycle does not own (a cleared field only when the form
        changed it), and a status change (to a project state, see
        :func:`lifecycle_guarded`) only if the row still has the status the
        form was built from.
        """
        if not change:
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            return
        opts = options_for(self.model)
        owned = {
            opts.status_field,
            opts.assignee_field,
            STARTED_AT,
            EXPIRES_AT,
            ATTEMPT,
            *opts.clear_fields,
        }
        changed = set(form.changed_data)
        columns = [
            field.name
            for field in obj._meta.concrete_fields
            if not field.primary_key
            and (
                field.name not in owned
                or field.name in changed & set(opts.clear_fields)
            )
        ]
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using):
            if opts.status_field in changed:
                moved = (
                    self.model._base_manager.using(using)
                    .filter(
                        pk=obj.pk,
                        **{opts.status_field: form.initial.get(opts.status_field)},
                    )
                    .update(**{opts.status_field: getattr(obj, opts.status_attname)})
                )
                if not moved:
                    self.message_user(  # type: ignore[attr-defined]
                        request,
                        _(
                            "The status was not changed: the row changed state "
                            "while the form was being saved."
                        ),
                        messages.WARNING,
                    )
            obj.save(using=using, update_fields=columns)

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        """The declared inlines, plus the offer history on existing rows."""
        inlines = list(super().get_inlines(request, obj))
        if (
            obj is not None
            and self.assignment_inline
            and self.assignment_inline not in inlines
        ):
            inlines.append(self.assignment_inline)
        return inlines

    # -- actions ----------------------------------------------------------

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Append the lifecycle actions to the declared ones (actions = None
        # still switches actions off). Done here rather than by overriding
        # get_actions(), whose signature changes in Django 6.1; ModelAdmin
        # itself then applies permissions and hides actions in popups.
        declared = self.actions
        if declared is not None:
            names = list(declared)
            names += [name for name in self.assignment_actions if name not in names]
            self.actions = names

    @admin.action(description=_("Offer the selected rows to…"), permissions=["change"])
    def offer_to(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> TemplateResponse | None:
        """Choose an assignee on a page of its own, then offer each selected row.

        Each offer goes through :func:`.lifecycle.offer` (deadline, attempt,
        event, notification); rows that are not pending are reported and left
        as they are. See :mod:`.offering`.
        """
        return offer_selected(
            self,  # type: ignore[arg-type]
            request,
            queryset,
            action_name="offer_to",
            state=self.assignment_state,
        )


class AssignmentAdmin(AssignmentAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A ready-made admin for a model that uses the mixin."""
