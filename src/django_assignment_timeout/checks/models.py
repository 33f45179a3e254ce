"""System checks of one model's ``AssignmentMeta`` (E001-E006).

Run by Django's model checks through ``ExpiringAssignmentMixin.check()``, so
they cover every installed adopting model (and test models built with
``isolate_apps`` when their ``check()`` is called).
"""

from __future__ import annotations

from django.core.checks import CheckMessage, Error
from django.db.models import ForeignKey, Model, OneToOneField

from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.options import (
    MANAGED_FIELDS,
    AssignmentOptions,
    field_or_none,
)

__all__ = ["check_model"]

PREFIX = "assignment_timeout"


def check_model(model: type[Model]) -> list[CheckMessage]:
    """Validate the ``AssignmentMeta`` of one model that uses the mixin.

    Django's model checks call it through ``ExpiringAssignmentMixin.check()``,
    so it runs for every installed model (and for test models with
    ``isolate_apps`` when their ``check()`` is called).
    """
    opts = AssignmentOptions.from_model(model)
    errors: list[CheckMessage] = []
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
        choices = {value for value, _label in status.flatchoices}
        for role in ("pending", "offered", "accepted"):
            value = getattr(opts, role)
            if value not in choices:
                errors.append(
                    Error(
                        f"AssignmentMeta.{role} is {value!r}, which is not a choice "
                        f"of {model._meta.label}.{opts.status_field}.",
                        hint=f"Use one of: {', '.join(repr(c) for c in sorted(map(str, choices)))}.",
                        obj=model,
                        id=f"{PREFIX}.E002",
                    )
                )
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
    return errors
