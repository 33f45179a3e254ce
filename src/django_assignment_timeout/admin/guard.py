"""Admin forms that can not move a row between lifecycle states.

The lifecycle's states (``pending``, ``offered``, ``accepted``) are entered
only through the lifecycle: an offer sets the assignee, the deadline and the
attempt and writes an event, an accept writes its event, an expiry clears
the offer. A form that set the status directly would skip all of that (a row
"accepted" with no assignee and no event, a row back to "pending" with its
assignee kept). So, in every admin form of an adopting model:

* a new row can only be created pending (and without an assignee: the
  assignee is read-only);
* an existing row's status keeps its lifecycle state or moves to one of the
  project's own states (``IN_TRANSIT`` after ``ASSIGNED``: the project's
  business), never to another lifecycle state;
* an offered row's status does not change at all (its deadline is running);
* the assignee and the mixin's fields are never edited.

State changes within the lifecycle are the admin's actions: "Offer the
selected rows to…", "Withdraw", "Expire now".
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    options_for,
)

__all__ = ["LIFECYCLE_ONLY", "lifecycle_guarded"]

#: The error of a status the form may not set.
LIFECYCLE_ONLY = _(
    "Only the lifecycle sets this state: use the actions "
    "(offer to…, withdraw, expire now) on the change list."
)


def lifecycle_guarded(form_class: type[Any]) -> type[Any]:
    """``form_class`` (an admin ModelForm), restricted by the rules above for each row."""
    if issubclass(form_class, _Guard):
        return form_class
    # The form's own metaclass, so the ModelForm machinery builds it as usual.
    metaclass: type[Any] = type(form_class)
    guarded: type[Any] = metaclass(form_class.__name__, (_Guard, form_class), {})
    return guarded


class _Guard:
    """Mixed into an admin ModelForm; reads the row from ``self.instance``."""

    fields: dict[str, Any]
    initial: dict[str, Any]
    instance: Any
    _meta: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = options_for(self._meta.model)
        # Read-only in the change form already; disabled here too, so that a
        # list_editable column or a custom form can not post them either.
        for name in (opts.assignee_field, STARTED_AT, EXPIRES_AT, ATTEMPT):
            if name in self.fields:
                self.fields[name].disabled = True
        field = self.fields.get(opts.status_field)
        if field is None:
            return
        status = self._meta.model._meta.get_field(opts.status_field)
        lifecycle = {
            str(status.to_python(v))
            for v in (opts.pending, opts.offered, opts.accepted)
        }
        adding = self.instance._state.adding
        if adding:
            # Created pending and nothing else, not even a project state.
            keep = {str(status.to_python(opts.pending))}
            field.required = True
            self.initial[opts.status_field] = opts.pending
        else:
            current = str(getattr(self.instance, opts.status_attname))
            if current == str(status.to_python(opts.offered)):
                field.disabled = True  # a running offer ends through the lifecycle
                return
            keep = {current}

        def allowed(value: Any) -> bool:
            text = "" if value is None else str(value)
            return text in keep or (not adding and text not in lifecycle)

        if getattr(field, "choices", None):
            field.choices = _filter_choices(field.choices, allowed)
            field.error_messages["invalid_choice"] = LIFECYCLE_ONLY

        def lifecycle_only(value: Any) -> None:
            if not allowed(value):
                raise ValidationError(LIFECYCLE_ONLY, code="lifecycle_only")

        field.validators.append(lifecycle_only)


def _filter_choices(choices: Any, allowed: Any) -> list[Any]:
    """``choices`` without the values ``allowed`` refuses (groups kept, emptied ones dropped)."""
    kept: list[Any] = []
    for value, label in choices:
        if isinstance(label, (list, tuple)):
            group = _filter_choices(label, allowed)
            if group:
                kept.append((value, group))
        elif allowed(value):
            kept.append((value, label))
    return kept
