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
from django.db import connections, models, router

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import (
    AssignmentError,
    ConfigurationError,
    InvalidArgument,
)
from django_assignment_timeout.validation import (
    parse_integer,
    positive_seconds,
    require_text,
    shown,
)

__all__ = [
    "ATTEMPT",
    "EXPIRES_AT",
    "MANAGED_FIELDS",
    "STARTED_AT",
    "AssignmentOptions",
    "assignment_models",
    "field_or_none",
    "integer_keys",
    "integer_range",
    "is_adopter",
    "options_for",
    "parse_key",
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
    #: The dispatch policy (:mod:`.policies`), or None: offered by hand only.
    dispatch: Any = None
    #: Seconds (or a timedelta) before an open offer's deadline at which its
    #: assignee is reminded; None: no reminder.
    remind_before: float | int | timedelta | None = None

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
            "dispatch",
            "remind_before",
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

    def assignee_pk(self, assignee: Any, using: str | None = None) -> Any:
        """The key of ``assignee`` (an instance, or a key parsed like :meth:`key`).

        Whether that assignee exists is not checked here: an offer checks it
        in its own UPDATE (:meth:`assignee_rows`).
        """
        field = self.model._meta.get_field(self.assignee_field)
        related = field.related_model
        target = field.target_field  # type: ignore[union-attr]
        if isinstance(assignee, models.Model):
            if related is not None and not isinstance(assignee, related):
                raise InvalidArgument(
                    f"{self.model._meta.label}.{self.assignee_field} refers to "
                    f"{related._meta.label}, not {type(assignee).__name__}.",
                    argument="assignee",
                )
            value = getattr(assignee, target.attname)  # the to_field, usually pk
            if value is None:
                raise InvalidArgument(
                    "The assignee has not been saved.", argument="assignee"
                )
            return value
        if assignee is None:
            raise InvalidArgument("An assignee is required.", argument="assignee")
        return parse_key(target, assignee, "assignee", self._using(using))

    def assignee_rows(self, assignee_pk: Any, using: str) -> models.QuerySet[Any]:
        """The assignee's row, by the key :meth:`assignee_pk` returned: empty if none."""
        field = self.model._meta.get_field(self.assignee_field)
        target = field.target_field  # type: ignore[union-attr]
        related: type[models.Model] = field.related_model  # type: ignore[assignment]
        return related._base_manager.using(using).filter(
            **{target.attname: assignee_pk}
        )

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

    def timeout_seconds(self, instance: Any = None, assignee: Any = None) -> float:
        """Resolve the model's timeout in seconds.

        ``AssignmentMeta.timeout`` (a number, a timedelta, the name of a
        setting, or a callable taking the instance and the assignee), else
        ``ASSIGNMENT_TIMEOUT_SECONDS``. A per-offer ``timeout=`` is resolved
        before this, by the lifecycle's ``offer_seconds``.
        """
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
            return positive_seconds(
                self._call_timeout(instance, assignee), where, config=True
            )
        return positive_seconds(spec, where, config=True)

    def _call_timeout(self, instance: Any, assignee: Any) -> Any:
        # The callable is the model's own code: a library error it raises is
        # a deliberate refusal and passes unchanged; anything else is a bug
        # in the declaration, reported as one with the original chained.
        where = f"{self.model._meta.label}.AssignmentMeta.timeout"
        try:
            return self.timeout(instance, assignee)  # type: ignore[operator,misc]
        except AssignmentError:
            raise
        except Exception as err:
            raise ConfigurationError(
                f"{where} raised {type(err).__name__} for "
                f"{self.model._meta.verbose_name} {instance.pk}: {err}"
            ) from err

    def remind_before_seconds(self) -> float | None:
        """``remind_before`` in seconds, or None when the model asks for no reminder.

        A number or a timedelta; anything else is a :class:`.ConfigurationError`
        (system check E097 reports it first).
        """
        if self.remind_before is None:
            return None
        where = f"{self.model._meta.label}.AssignmentMeta.remind_before"
        declared: Any = self.remind_before  # user input, whatever its annotation
        if isinstance(declared, str):  # a number of seconds, not a setting
            raise ConfigurationError(
                f"{where} must be a number of seconds or a timedelta, "
                f"not {shown(self.remind_before)}."
            )
        return positive_seconds(self.remind_before, where, config=True)

    @property
    def timeout_needs_instance(self) -> bool:
        """Whether ``timeout`` is a callable, which gets the instance and the assignee."""
        return callable(self.timeout) and not isinstance(self.timeout, timedelta)

    def key(self, pk: Any, using: str | None = None) -> Any:
        """``pk`` as the primary key field's Python value (so event keys are uniform).

        Parsed as a URL or a form sends it: ``"12"`` for an integer key (never
        ``12.7``), a UUID's text for a UUID key. A bad key is an
        :class:`.InvalidArgument` (``argument="pk"``).
        """
        return parse_key(self.model._meta.pk, pk, "pk", self._using(using))

    def _using(self, using: str | None) -> str:
        return using or router.db_for_read(self.model)


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


#: Field types whose values the database turns into the same text as str().
INTEGER_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)


def integer_keys(model: type[models.Model]) -> bool:
    """Whether the model's key and its assignee's key are integers.

    Then the database can write both as the event columns store them (their
    text is ``str()`` of the value), in SQL, without reading them into Python.
    """
    assignee = model._meta.get_field(options_for(model).assignee_field)
    return {
        model._meta.pk.get_internal_type(),
        assignee.target_field.get_internal_type(),  # type: ignore[union-attr]
    } <= INTEGER_TYPES


def integer_range(field: Any, using: str) -> tuple[int | None, int | None]:
    """The range of an integer field's column on database ``using``."""
    ops = connections[using].ops
    try:
        return ops.integer_field_range(field.get_internal_type())
    except KeyError:  # a custom integer type Django has no range for
        return None, None


def parse_key(field: Any, value: Any, name: str, using: str) -> Any:
    """``value`` as a key of ``field`` (a primary key, or what a foreign key targets).

    An integer key is parsed by :func:`.parse_integer` (``"12"`` yes, ``12.7``
    no) within its column's range; any other key by the field's own
    ``to_python`` (a UUID's text), refusing None, bools, containers and text
    no backend can store.
    """
    while field.is_relation:  # a one-to-one primary key: the key it points to
        field = field.target_field
    if isinstance(field, models.IntegerField):
        low, high = integer_range(field, using)
        return parse_integer(value, name, low=low, high=high)
    invalid = InvalidArgument(f"{shown(value)} is not a valid {name}.", argument=name)
    if value is None or isinstance(
        value, (bool, bytes, bytearray, list, tuple, dict, set)
    ):
        raise invalid
    if isinstance(value, str):
        require_text(value, name)
    try:
        return field.to_python(value)
    except (ValidationError, TypeError, ValueError, AttributeError) as err:
        raise invalid from err
