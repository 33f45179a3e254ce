"""The admin of dispatch chains: an assignment's chains, their offers, start and stop.

A chain's offers are not rows of their own: they are the assignment's events
from the chain's first attempt to its latest (:class:`.DispatchChain`), so
the page reads them from the outbox, one query per chain. Starting and
stopping go through the model's own :meth:`start_dispatch` and
:meth:`stop_dispatch`, so an admin start is the same fenced transaction as
one made in code; a refusal is an admin message, never an error page.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_assignment_timeout.admin.events import assignment_link
from django_assignment_timeout.admin.offering import report_refusals
from django_assignment_timeout.admin.read_only import ReadOnlyModelAdmin
from django_assignment_timeout.dispatch_chain import DispatchChain
from django_assignment_timeout.events import AssignmentEvent, EventKind
from django_assignment_timeout.exceptions import AssignmentError
from django_assignment_timeout.options import options_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.db.models import QuerySet
    from django.http import HttpRequest

__all__ = [
    "DispatchAdminMixin",
    "DispatchChainAdmin",
    "DispatchChainInline",
    "chain_offers",
    "has_dispatch_policy",
]

# The events that end an offer, and so give it its outcome.
_ENDINGS = frozenset(
    {EventKind.ACCEPTED, EventKind.REJECTED, EventKind.EXPIRED, EventKind.WITHDRAWN}
)
_TEMPLATE = "admin/assignment_timeout/chain_offers.html"
_FIELDS = (
    "state",
    "end_reason",
    "offers",
    "started_at",
    "ended_at",
    "deadline",
    "offer_table",
)


def has_dispatch_policy(model: type[Any]) -> bool:
    """Whether ``model``'s ``AssignmentMeta`` declares a dispatch policy."""
    return options_for(model).dispatch is not None


def chain_offers(chain: DispatchChain) -> list[dict[str, Any]]:
    """The offers ``chain`` made, oldest first: candidate, outcome and times.

    Each is a dict with ``attempt``, ``candidate`` (the assignee instance, or
    its stored key once it is gone), ``offered_at``, ``deadline``,
    ``outcome`` (the ending event's label, or "open") and ``ended_at``.
    """
    using = chain._state.db
    events = (
        AssignmentEvent.objects.using(using)
        .filter(
            content_type_id=chain.content_type_id,
            object_pk=chain.object_pk,
            attempt__gte=chain.first_attempt,
            attempt__lte=chain.attempt,
        )
        .only("attempt", "kind", "assignee_pk", "deadline", "created_at")
        .order_by("id")
    )
    offers: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.kind == EventKind.OFFERED:
            offers[event.attempt] = {
                "attempt": event.attempt,
                "candidate": event.assignee_pk,
                "offered_at": event.created_at,
                "deadline": event.deadline,
                "outcome": _("open"),
                "ended_at": None,
            }
        elif event.kind in _ENDINGS and event.attempt in offers:
            offer = offers[event.attempt]
            offer["outcome"] = EventKind(event.kind).label
            offer["ended_at"] = event.created_at
    _name_candidates(chain, list(offers.values()))
    return list(offers.values())


def _name_candidates(chain: DispatchChain, offers: list[dict[str, Any]]) -> None:
    """Replace each stored assignee key by the assignee, in one query."""
    model = ContentType.objects.db_manager(chain._state.db).get_for_id(
        chain.content_type_id
    )
    model_class = model.model_class()
    keys = {offer["candidate"] for offer in offers if offer["candidate"] is not None}
    if model_class is None or not keys:
        return
    field = model_class._meta.get_field(options_for(model_class).assignee_field)
    manager = field.related_model._base_manager  # type: ignore[union-attr]
    try:
        assignees = manager.using(chain._state.db).in_bulk(keys)
    except (ValueError, ValidationError):
        return  # a key the assignee model no longer takes: show the keys
    by_key = {str(pk): assignee for pk, assignee in assignees.items()}
    for offer in offers:
        offer["candidate"] = by_key.get(offer["candidate"], offer["candidate"])


def _offer_table(chain: DispatchChain) -> str:
    return render_to_string(_TEMPLATE, {"offers": chain_offers(chain)})


class DispatchChainInline(GenericTabularInline):
    """An assignment's dispatch chains, newest first, each with its offers; read-only."""

    model = DispatchChain
    ct_field = "content_type"
    ct_fk_field = "object_pk"
    fields = _FIELDS
    readonly_fields = _FIELDS
    ordering = ("-id",)
    extra = 0
    can_delete = False
    # Links each chain to its own read-only page, where the site has one.
    show_change_link = True
    verbose_name = _("dispatch chain")
    verbose_name_plural = _("dispatch chains")

    @admin.display(description=_("offers made"))
    def offer_table(self, obj: DispatchChain) -> str:
        """Each offer of the chain: candidate, outcome, times."""
        return _offer_table(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Chains are started by the dispatch action or in code."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A chain's row is its steps' fence: never edited by hand."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The chains are the assignment's history."""
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whoever may see the assignment may see its chains."""
        meta = self.parent_model._meta
        user = request.user
        return user.has_perm(
            f"{meta.app_label}.view_{meta.model_name}"
        ) or user.has_perm(f"{meta.app_label}.change_{meta.model_name}")


@admin.register(DispatchChain)
class DispatchChainAdmin(ReadOnlyModelAdmin):
    """Every dispatch chain, read-only: state, end reason and offers.

    A chain changes only through its steps and is started by the dispatch
    action or in code; a running chain's row fences its steps, ended ones
    are history.
    """

    list_display = (
        "id",
        "chain_assignment",
        "state",
        "end_reason",
        "offers",
        "started_at",
        "ended_at",
    )
    list_filter = ("state", "end_reason", "content_type")
    list_select_related = ("content_type",)
    search_fields = ("=object_pk",)
    ordering = ("-id",)
    extra_readonly_fields = ("chain_assignment", "offer_table")

    @admin.display(description=_("assignment"), ordering="object_pk")
    def chain_assignment(self, obj: DispatchChain) -> str:
        """The assignment, linked to its admin page when it has one."""
        return assignment_link(self.admin_site, obj.content_type, obj.object_pk)

    @admin.display(description=_("offers made"))
    def offer_table(self, obj: DispatchChain) -> str:
        """Each offer of the chain: candidate, outcome, times."""
        return _offer_table(obj)


class DispatchAdminMixin:
    """The "start / stop auto-dispatch" actions, for models with a dispatch policy.

    A base of :class:`.AssignmentAdminMixin`, which also adds the
    :class:`DispatchChainInline` to an existing row's page. A model without
    a policy gets neither the actions nor the inline.
    """

    #: Appended to the admin's actions when the model declares a policy.
    dispatch_actions: tuple[str, ...] = ("start_auto_dispatch", "stop_auto_dispatch")
    actions: Sequence[Any] | None
    model: type[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # As AssignmentAdminMixin does: actions = None still switches them off.
        if self.actions is not None and has_dispatch_policy(self.model):
            names = list(self.actions)
            names += [name for name in self.dispatch_actions if name not in names]
            self.actions = names

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        """The declared inlines, plus the dispatch chains of an existing row."""
        inlines = list(super().get_inlines(request, obj))  # type: ignore[misc]
        if (
            obj is not None
            and has_dispatch_policy(self.model)
            and DispatchChainInline not in inlines
        ):
            inlines.append(DispatchChainInline)
        return inlines

    @admin.action(
        description=_("Start auto-dispatch for the selected rows"),
        permissions=["change"],
    )
    def start_auto_dispatch(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> None:
        """Start the model's dispatch policy for each selected pending row.

        Rows already dispatching, not pending or with no eligible candidate
        are left as they are, with one warning per reason.
        """
        done = 0
        refused: Counter[str] = Counter()
        examples: dict[str, Any] = {}
        for row in queryset:
            try:
                row.start_dispatch()
            except AssignmentError as err:
                # Each start is its own transaction: the others still start.
                refused[str(err)] += 1
                examples.setdefault(str(err), row.pk)
            else:
                done += 1
        if done:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "Started auto-dispatch for %(count)d row.",
                    "Started auto-dispatch for %(count)d rows.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )
        report_refusals(self, request, refused, examples)  # type: ignore[arg-type]

    @admin.action(
        description=_("Stop auto-dispatch for the selected rows"),
        permissions=["change"],
    )
    def stop_auto_dispatch(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """End each selected row's running chain; an open offer stays open."""
        stopped = idle = 0
        for row in queryset:
            if row.stop_dispatch():
                stopped += 1
            else:
                idle += 1
        if stopped:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "Stopped auto-dispatch for %(count)d row; "
                    "its open offer, if any, stays open.",
                    "Stopped auto-dispatch for %(count)d rows; "
                    "their open offers, if any, stay open.",
                    stopped,
                )
                % {"count": stopped},
                messages.SUCCESS,
            )
        if idle:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "%(count)d selected row had no running dispatch chain.",
                    "%(count)d selected rows had no running dispatch chain.",
                    idle,
                )
                % {"count": idle},
                messages.WARNING,
            )
