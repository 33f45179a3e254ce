"""What a model declares about its assignments, read from ``AssignmentMeta``.

A model that adopts :class:`~django_assignment_timeout.models.ExpiringAssignmentMixin`
names its own status field, status values, assignee foreign key, the fields an
ended offer clears, and its timeout. Reading the declaration never raises:
mistakes are reported by the system checks in :mod:`.checks`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeGuard

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import ConfigurationError, InvalidArgument
from django_assignment_timeout.validation import positive_seconds

__all__ = [
    "ATTEMPT",
    "EXPIRES_AT",
    "MANAGED_FIELDS",
    "STARTED_AT",
    "AssignmentOptions",
    "assignment_models",
    "field_or_none",
    "is_adopter",
    "options_for",
    "register_adopter",
]

#: Fields the mixin contributes.
STARTED_AT = "assignment_started_at"
EXPIRES_AT = "assignment_expires_at"
ATTEMPT = "assignment_attempt"

#: Fields an offer sets itself; a caller may not pass them to ``offer()``.
MANAGED_FIELDS = frozenset({STARTED_AT, EXPIRES_AT, ATTEMPT})

TimeoutSpec = float | int | timedelta | str | Callable[..., Any] | None

# Every concrete class that uses the mixin, recorded by the mixin as each is
# prepared, so that the layers below the mixin can find adopting models
# without importing it. Weak: test models built in isolate_apps come and go.
_ADOPTERS: weakref.WeakSet[type[models.Model]] = weakref.WeakSet()


@dataclass(frozen=True)
class AssignmentOptions:
    """The parsed ``AssignmentMeta`` of one concrete model."""

    model: type[models.Model]
    status_field: str = "status"
    pending: Any = "pending"
    offered: Any = "offered"
    accepted: Any = "accepted"
    assignee_field: str = "assignee"
    clear_fields: tuple[str, ...] = ()
    timeout: TimeoutSpec = None

    @classmethod
    def from_model(cls, model: type[models.Model]) -> AssignmentOptions:
        """Read ``model.AssignmentMeta``; missing attributes take the defaults."""
        meta = getattr(model, "AssignmentMeta", None)
        names = (
            "status_field",
            "pending",
            "offered",
            "accepted",
            "assignee_field",
            "timeout",
        )
        values: dict[str, Any] = {
            name: getattr(meta, name) for name in names if hasattr(meta, name)
        }
        clear = getattr(meta, "clear_fields", ())
        values["clear_fields"] = (clear,) if isinstance(clear, str) else tuple(clear)
        return cls(model=model, **values)

    # Field lookups. They raise FieldDoesNotExist on a bad declaration, which
    # the system checks report before any of them is used.

    @cached_property
    def assignee_attname(self) -> str:
        """The assignee foreign key's column attribute (``target_driver_id``)."""
        return self.model._meta.get_field(self.assignee_field).attname  # type: ignore[union-attr]

    @cached_property
    def status_attname(self) -> str:
        """The status field's attribute name."""
        return self.model._meta.get_field(self.status_field).attname  # type: ignore[union-attr]

    def assignee_pk(self, assignee: Any) -> Any:
        """The primary key of ``assignee``, given an instance or a key."""
        field = self.model._meta.get_field(self.assignee_field)
        related = field.related_model
        if isinstance(assignee, models.Model):
            if related is not None and not isinstance(assignee, related):
                raise InvalidArgument(
                    f"{self.model._meta.label}.{self.assignee_field} refers to "
                    f"{related._meta.label}, not {type(assignee).__name__}."
                )
            if assignee.pk is None:
                raise InvalidArgument("The assignee has not been saved.")
            return assignee.pk
        if assignee is None or isinstance(assignee, bool):
            raise InvalidArgument("An assignee is required.")
        target = field.target_field  # type: ignore[union-attr]
        try:
            return target.to_python(assignee)
        except Exception as err:
            raise InvalidArgument(f"{assignee!r} is not a valid assignee key.") from err

    def cleared_values(self) -> dict[str, Any]:
        """Field values that end an offer: no assignee, no deadline, cleared extras."""
        values: dict[str, Any] = {
            self.assignee_attname: None,
            STARTED_AT: None,
            EXPIRES_AT: None,
        }
        for name in self.clear_fields:
            field = self.model._meta.get_field(name)
            values[field.attname] = field.get_default()  # type: ignore[union-attr]
        return values

    def timeout_seconds(
        self, instance: Any = None, assignee: Any = None, override: Any = None
    ) -> float:
        """Resolve the offer's timeout in seconds.

        ``override`` (a per-offer value) wins, then ``AssignmentMeta.timeout``
        (a number, a timedelta, the name of a setting, or a callable taking
        the instance and the assignee), then ``ASSIGNMENT_TIMEOUT_SECONDS``.
        """
        if override is not None:
            return positive_seconds(override, "timeout")
        spec = self.timeout
        where = f"{self.model._meta.label}.AssignmentMeta.timeout"
        if spec is None:
            return positive_seconds(
                app_settings.SECONDS, "ASSIGNMENT_TIMEOUT_SECONDS", config=True
            )
        if isinstance(spec, str):
            if not hasattr(settings, spec):
                raise ConfigurationError(
                    f"{where} names the setting {spec}, which is not set."
                )
            return positive_seconds(getattr(settings, spec), spec, config=True)
        if callable(spec) and not isinstance(spec, timedelta):
            return positive_seconds(spec(instance, assignee), where, config=True)
        return positive_seconds(spec, where, config=True)

    def key(self, pk: Any) -> Any:
        """``pk`` as the primary key field's Python value (so event keys are uniform)."""
        label = self.model._meta.label
        if pk is None or isinstance(pk, bool):
            raise InvalidArgument(f"{pk!r} is not a valid {label} key.")
        try:
            return self.model._meta.pk.to_python(pk)
        except (ValidationError, TypeError, ValueError) as err:
            raise InvalidArgument(f"{pk!r} is not a valid {label} key.") from err

    def check_offer_values(self, values: dict[str, Any]) -> None:
        """Refuse extra ``offer()`` values that the offer sets or can not set."""
        reserved = {
            self.status_field,
            self.assignee_field,
            self.assignee_attname,
            *MANAGED_FIELDS,
        }
        for name in values:
            if name in reserved:
                raise InvalidArgument(
                    f"{name} is set by the offer itself; do not pass it."
                )
            try:
                field = self.model._meta.get_field(name)
            except Exception as err:
                raise InvalidArgument(
                    f"{self.model._meta.label} has no field {name!r}."
                ) from err
            if not getattr(field, "concrete", False) or field.many_to_many:
                raise InvalidArgument(f"{name} can not be set by an offer.")


def register_adopter(model: type[models.Model]) -> None:
    """Record ``model`` as a concrete model that uses the mixin (the mixin calls it)."""
    _ADOPTERS.add(model)


def is_adopter(model: object) -> TypeGuard[type[models.Model]]:
    """Whether ``model`` is a concrete model class that uses the mixin."""
    return isinstance(model, type) and model in _ADOPTERS


def assignment_models() -> list[type[models.Model]]:
    """Every installed concrete model that uses the mixin."""
    return [
        model
        for model in apps.get_models()
        if model in _ADOPTERS and not model._meta.proxy
    ]


def options_for(model: type[models.Model]) -> AssignmentOptions:
    """The options of a concrete model that uses the mixin."""
    opts = getattr(model, "_assignment_options", None)
    if opts is None or opts.model is not model:
        opts = AssignmentOptions.from_model(model)
        model._assignment_options = opts  # type: ignore[attr-defined]
    return opts


def field_or_none(model: type[models.Model], name: str) -> Any:
    """``model._meta.get_field(name)``, or None when there is no such field."""
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
