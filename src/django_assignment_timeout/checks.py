"""System checks: settings and the models that adopt the mixin.

Ids are stable and never reused (retired ones stay reserved):

* E001 status field missing; E002 status value not a choice; E003 status
  values not distinct; E004 assignee field not a foreign key; E005 a cleared
  field does not exist or is one the library manages; E006 bad model timeout.
* E010 bad ``ASSIGNMENT_TIMEOUT_SECONDS``; E011 bad ``SWEEP_INTERVAL``;
  W012 sweep interval longer than the timeout; E013 bad ``BATCH_SIZE``;
  E014 bad ``MAX_BATCHES``; E015 contenttypes not installed; W016 ``USE_TZ``
  off.
* E020 the scheduler backend can not be loaded (its own checks follow).
* E030-E039 are reserved for notifier backends and the delivery settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db.models import ForeignKey, Model, OneToOneField

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError

# Registers the notifier and delivery checks (E030-E039), kept with the notifiers.
from django_assignment_timeout.notifiers import checks as _notifier_checks  # noqa: F401
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    STARTED_AT,
    AssignmentOptions,
    _is_real_number,
    field_or_none,
)

PREFIX = "assignment_timeout"


def _positive_number(value: Any) -> bool:
    return _is_real_number(value) and value > 0 and value != float("inf")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate the ``ASSIGNMENT_TIMEOUT_*`` settings."""
    errors: list[CheckMessage] = []
    seconds, interval = app_settings.SECONDS, app_settings.SWEEP_INTERVAL
    if not _positive_number(seconds):
        errors.append(
            Error(
                f"ASSIGNMENT_TIMEOUT_SECONDS must be a positive number, not {seconds!r}.",
                hint="Set it to the seconds an assignee has to accept, e.g. 300.",
                id=f"{PREFIX}.E010",
            )
        )
    if not _positive_number(interval):
        errors.append(
            Error(
                f"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL must be a positive number, not {interval!r}.",
                hint="Set it to the seconds between sweeps, e.g. 60.",
                id=f"{PREFIX}.E011",
            )
        )
    elif _positive_number(seconds) and interval > seconds:
        errors.append(
            Warning(
                f"ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL ({interval}) is longer than "
                f"ASSIGNMENT_TIMEOUT_SECONDS ({seconds}).",
                hint="Offers may outlive their timeout by up to a whole interval; "
                "sweep more often or use a scheduler with precise expiry.",
                id=f"{PREFIX}.W012",
            )
        )
    for name, check_id in (("BATCH_SIZE", "E013"), ("MAX_BATCHES", "E014")):
        value = getattr(settings, f"ASSIGNMENT_TIMEOUT_{name}")
        if not _positive_int(value):
            errors.append(
                Error(
                    f"ASSIGNMENT_TIMEOUT_{name} must be a positive integer, not {value!r}.",
                    hint="Use the default unless a benchmark says otherwise.",
                    id=f"{PREFIX}.{check_id}",
                )
            )
    if not apps.is_installed("django.contrib.contenttypes"):
        errors.append(
            Error(
                "django_assignment_timeout needs django.contrib.contenttypes.",
                hint="Add 'django.contrib.contenttypes' to INSTALLED_APPS.",
                id=f"{PREFIX}.E015",
            )
        )
    if not settings.USE_TZ:
        errors.append(
            Warning(
                "USE_TZ is False; deadlines are computed on the database clock in UTC.",
                hint="Set USE_TZ = True so stored deadlines and Python datetimes agree.",
                id=f"{PREFIX}.W016",
            )
        )
    return errors


@register(Tags.compatibility)
def check_scheduler(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Load the scheduler backend and run its own checks."""
    from django_assignment_timeout.schedulers import SETTING, load_scheduler

    try:
        scheduler = load_scheduler(app_settings.SCHEDULER)
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint=f"Fix {SETTING}; see the scheduler reference in the docs.",
                id=f"{PREFIX}.E020",
            )
        ]
    return scheduler.check()


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
    managed = {STARTED_AT, EXPIRES_AT, ATTEMPT, opts.status_field, opts.assignee_field}
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
