"""The admin's "Offer to…" action: choose an assignee, then offer through the lifecycle.

An intermediate page, as Django's "delete selected" has: the action first
shows the selected rows and a form choosing the assignee; posted back, it
calls :func:`.lifecycle.offer` for each row, so every offer gets its
deadline, its attempt number, its event and its notification, exactly as
one made in code. Rows that are not pending are refused by the lifecycle and
reported, not changed.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.db import router
from django.forms.models import apply_limit_choices_to_to_formfield
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_assignment_timeout import lifecycle
from django_assignment_timeout.exceptions import AssignmentError
from django_assignment_timeout.options import options_for

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.db.models import QuerySet
    from django.http import HttpRequest

__all__ = ["OfferForm", "offer_selected", "report_refusals"]

# The template, looked up per model first (as Django's admin templates are).
_TEMPLATE = "offer_to.html"


class OfferForm(forms.Form):
    """The assignee to offer the selected rows to.

    The field is the one the ModelAdmin's ``formfield_for_foreignkey`` makes
    for the assignee foreign key, with the key's ``limit_choices_to`` applied.
    """

    def __init__(self, *args: Any, assignee_field: forms.Field, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee_field.required = True
        apply_limit_choices_to_to_formfield(assignee_field)
        self.fields["assignee"] = assignee_field


def offer_selected(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action_name: str,
    state: Any,
) -> TemplateResponse | None:
    """Show the assignee form, or, once it is posted and valid, offer each row.

    Returns the page to show, or None once the offers are made (the admin
    then redirects to the change list with the messages).
    """
    model = model_admin.model
    opts = options_for(model)
    db_field = model._meta.get_field(opts.assignee_field)
    assignee_field = model_admin.formfield_for_foreignkey(db_field, request)
    if assignee_field is None:  # the admin hid it from its forms: the plain field
        assignee_field = db_field.formfield()
    data = request.POST if request.POST.get("post") else None
    form = OfferForm(data, assignee_field=assignee_field)
    if form.is_valid():
        _offer_each(model_admin, request, queryset, form.cleaned_data["assignee"])
        return None
    meta = model._meta
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Offer to…"),
        "objects_name": meta.verbose_name_plural,
        "rows": [{"object": row, "state": state(row)} for row in queryset],
        "form": form,
        "media": model_admin.media + form.media,
        "opts": meta,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(
        request,
        [
            f"admin/{meta.app_label}/{meta.model_name}/{_TEMPLATE}",
            f"admin/{meta.app_label}/{_TEMPLATE}",
            f"admin/assignment_timeout/{_TEMPLATE}",
        ],
        context,
    )


def _offer_each(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    assignee: Any,
) -> None:
    model = model_admin.model
    using = router.db_for_write(model)
    done = 0
    refused: Counter[str] = Counter()
    examples: dict[str, Any] = {}
    for pk in queryset.values_list("pk", flat=True):
        try:
            lifecycle.offer(model, pk, assignee, using=using)
        except AssignmentError as err:
            # Each offer is its own transaction: one refused row (already
            # offered, taken, a timeout that can not be resolved) leaves the
            # others offered, and is reported.
            reason = str(err)
            refused[reason] += 1
            examples.setdefault(reason, pk)
        else:
            done += 1
    if done:
        model_admin.message_user(
            request,
            ngettext(
                "Offered %(count)d row to %(who)s.",
                "Offered %(count)d rows to %(who)s.",
                done,
            )
            % {"count": done, "who": assignee},
            messages.SUCCESS,
        )
    report_refusals(model_admin, request, refused, examples)


def report_refusals(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    refused: Counter[str],
    examples: dict[str, Any],
) -> None:
    """One warning per refusal reason, with a count and an example key."""
    for reason, count in refused.items():
        model_admin.message_user(
            request,
            ngettext(
                "%(count)d row left unchanged (e.g. %(pk)s): %(reason)s",
                "%(count)d rows left unchanged (e.g. %(pk)s): %(reason)s",
                count,
            )
            % {"count": count, "pk": examples[reason], "reason": reason},
            messages.WARNING,
        )
