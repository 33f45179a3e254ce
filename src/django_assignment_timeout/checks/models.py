"""System checks of one model's ``AssignmentMeta`` (E001-E007, E097, E098).

Run by Django's model checks through ``ExpiringAssignmentMixin.check()``, so
they cover every installed adopting model (and test models built with
``isolate_apps`` when their ``check()`` is called).
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import Any

from django.core.checks import CheckMessage, Error
from django.db.models import ForeignKey, Model, OneToOneField

from django_assignment_timeout.checks.dispatch import check_dispatch
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.options import (
    MANAGED_FIELDS,
    AssignmentOptions,
    field_or_none,
)

__all__ = ["check_model"]

PREFIX = "assignment_timeout"

# What from_model() reads: every option but the model itself. Derived from
# the dataclass so that a new option is known to E007 the day it is added.
_KNOWN = tuple(f.name for f in fields(AssignmentOptions) if f.name != "model")


def check_model(model: type[Model]) -> list[CheckMessage]:
    """Validate the ``AssignmentMeta`` of one model that uses the mixin.

    Django's model checks call it through ``ExpiringAssignmentMixin.check()``,
    so it runs for every installed model (and for test models with
    ``isolate_apps`` when their ``check()`` is called).
    """
    opts = AssignmentOptions.from_model(model)
    errors: list[CheckMessage] = _unknown_attributes(model)
    status = field_or_none(model, opts.status_field)
    if status is None or not getattr(status, "concrete", False):
        errors.append(
            Error(
                f"AssignmentMeta.status_field names {opts.status_field!r}, "
                f"which is not a field of {model._meta.label}.",
                hint="Set status_field to the name of the model's status field.",
                obj=model,
                id=f"{PREFIX}.E001",
            )
        )
    elif status.choices:
        errors.extend(_status_values(model, opts, status))
    if len({opts.pending, opts.offered, opts.accepted}) != 3:
        errors.append(
            Error(
                "AssignmentMeta.pending, offered and accepted must be three different values.",
                hint="Each role needs its own status value.",
                obj=model,
                id=f"{PREFIX}.E003",
            )
        )
    assignee = field_or_none(model, opts.assignee_field)
    if not isinstance(assignee, (ForeignKey, OneToOneField)) or isinstance(
        assignee, OneToOneField
    ):
        errors.append(
            Error(
                f"AssignmentMeta.assignee_field names {opts.assignee_field!r}, "
                f"which is not a ForeignKey of {model._meta.label}.",
                hint="Point assignee_field at a nullable ForeignKey to the assignee model.",
                obj=model,
                id=f"{PREFIX}.E004",
            )
        )
    elif not assignee.null:
        errors.append(
            Error(
                f"{model._meta.label}.{opts.assignee_field} must be nullable "
                "(null=True): a pending assignment has no assignee.",
                hint="Add null=True to the foreign key.",
                obj=model,
                id=f"{PREFIX}.E004",
            )
        )
    managed = {*MANAGED_FIELDS, opts.status_field, opts.assignee_field}
    for name in opts.clear_fields:
        field = field_or_none(model, name)
        if field is None or not getattr(field, "concrete", False) or name in managed:
            errors.append(
                Error(
                    f"AssignmentMeta.clear_fields names {name!r}, which is not a "
                    f"field of {model._meta.label} that an ended offer can clear.",
                    hint="List only the model's own extra fields (e.g. assignment_mode).",
                    obj=model,
                    id=f"{PREFIX}.E005",
                )
            )
    if opts.timeout is not None and not callable(opts.timeout):
        try:
            opts.timeout_seconds()
        except ConfigurationError as err:
            errors.append(
                Error(
                    str(err),
                    hint="Use a positive number of seconds, a timedelta, the name of "
                    "a setting that holds one, or a callable.",
                    obj=model,
                    id=f"{PREFIX}.E006",
                )
            )
    errors.extend(check_dispatch(model, opts.dispatch))
    errors.extend(_reminder(model, opts))
    return errors


def _reminder(model: type[Model], opts: AssignmentOptions) -> list[CheckMessage]:
    """E097: ``remind_before`` that is not positive seconds; E098: not before the timeout."""
    try:
        seconds = opts.remind_before_seconds()
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint="Use a positive number of seconds or a timedelta, shorter "
                "than the timeout, or None for no reminder.",
                obj=model,
                id=f"{PREFIX}.E097",
            )
        ]
    if seconds is None or opts.timeout_needs_instance:
        return []  # a callable timeout is known per offer only
    try:
        timeout = opts.timeout_seconds()
    except ConfigurationError:
        return []  # E006 (or the settings' check) reports the timeout
    if seconds < timeout:
        return []
    return [
        Error(
            f"{model._meta.label}.AssignmentMeta.remind_before is {seconds:g} "
            f"seconds, not shorter than the {timeout:g}-second timeout: the "
            "reminder would come with the offer.",
            hint="Make remind_before shorter than the timeout (a minute of a "
            "five-minute offer, say), or remove it.",
            obj=model,
            id=f"{PREFIX}.E098",
        )
    ]


def _unknown_attributes(model: type[Model]) -> list[CheckMessage]:
    """E007: what ``AssignmentMeta`` declares that nothing reads (a typo, mostly)."""
    meta = getattr(model, "AssignmentMeta", None)
    if meta is None:
        return []
    if not isinstance(meta, type):
        return [
            Error(
                f"{model._meta.label}.AssignmentMeta is a {type(meta).__name__}, "
                "not a class: none of it is read.",
                hint="Declare it as a nested class: class AssignmentMeta: ...",
                obj=model,
                id=f"{PREFIX}.E007",
            )
        ]
    errors: list[CheckMessage] = []
    # dir(), not vars(): an AssignmentMeta may inherit from a shared base,
    # and from_model() reads inherited attributes too. Private and dunder
    # names are the class's own business.
    for name in sorted(n for n in dir(meta) if not n.startswith("_")):
        if name in _KNOWN:
            continue
        close = difflib.get_close_matches(name, _KNOWN, n=1)
        hint = f"Did you mean {close[0]}? " if close else ""
        errors.append(
            Error(
                f"{model._meta.label}.AssignmentMeta declares {name!r}, which is not "
                "an option: it is ignored.",
                hint=f"{hint}The options are: {', '.join(_KNOWN)}.",
                obj=model,
                id=f"{PREFIX}.E007",
            )
        )
    return errors


def _status_values(
    model: type[Model], opts: AssignmentOptions, status: Any
) -> list[CheckMessage]:
    """E002: a role's value that is not one of the status field's choices.

    The hint lists the values as they must be written (``0, 1, 2`` for an
    integer field, ``'PENDING', ...`` for a text one), and a value of the
    wrong type (``'0'`` for ``0``) is called that, since it looks right.
    """
    choices = [value for value, _label in status.flatchoices]
    where = f"{model._meta.label}.{opts.status_field}"
    listed = ", ".join(repr(_plain(c)) for c in choices)
    errors: list[CheckMessage] = []
    for role in ("pending", "offered", "accepted"):
        value = getattr(opts, role)
        if any(value == choice for choice in choices):
            continue
        same_text = [c for c in choices if str(_plain(c)) == str(value)]
        if same_text:
            wanted = _plain(same_text[0])
            message = (
                f"AssignmentMeta.{role} is {value!r}, a {type(value).__name__}; "
                f"the choices of {where} are {type(wanted).__name__} values, so "
                "no row ever has it."
            )
            hint = f"Write {role} = {wanted!r} (the choices are {listed})."
        else:
            message = (
                f"AssignmentMeta.{role} is {value!r}, which is not a choice of {where}."
            )
            hint = f"Use one of: {listed}."
        errors.append(Error(message, hint=hint, obj=model, id=f"{PREFIX}.E002"))
    return errors


def _plain(choice: Any) -> Any:
    """A choice as it is written in code: an enum member as its plain value."""
    value = getattr(choice, "value", choice)
    return value if isinstance(value, (int, str, float)) else choice
