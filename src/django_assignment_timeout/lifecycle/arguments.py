"""What an offer accepts: its values and its timeout, checked before anything is written.

A form, a JSON body or a URL can send any of these, so each bad one is an
:class:`.InvalidArgument` (HTTP 400) naming the argument, raised before the
transition's UPDATE. Keys and attempts are parsed by
:meth:`.AssignmentOptions.key` and :func:`.require_attempt`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.lifecycle.refusals import (
    unknown_assignee,
    why_not_pending,
)
from django_assignment_timeout.options import (
    ATTEMPT,
    MANAGED_FIELDS,
    AssignmentOptions,
    integer_range,
    parse_key,
)
from django_assignment_timeout.validation import (
    parse_integer,
    positive_seconds,
    require_attempt,
    require_text,
    shown,
)

if TYPE_CHECKING:
    from django.db.models import Field

__all__ = ["attempt_argument", "offer_field", "offer_seconds", "offer_values"]


def attempt_argument(
    model: type[models.Model], attempt: Any, using: str, name: str = "attempt"
) -> int | None:
    """An ``attempt`` (or ``after_attempt``) argument as an int, or None.

    Parsed like an integer key ("2" from a form is 2), within the column;
    an offer may follow attempt 0 (none yet), an answer names a real one.
    """
    _, high = integer_range(model._meta.get_field(ATTEMPT), using)
    return require_attempt(attempt, high=high, name=name, low=int(name == "attempt"))


def offer_values(
    opts: AssignmentOptions, values: dict[str, Any], using: str
) -> dict[str, Any]:
    """``values`` for the offer's UPDATE, each cleaned as ``full_clean`` would.

    An UPDATE skips the model's validation, so without this a too long text
    or a NULL for a NOT NULL column would surface as a raw database error (and
    a float for an integer column would be truncated). Expressions (``F``,
    ``Now()``) pass unchanged.
    """
    cleaned = {}
    for name, value in values.items():
        field = offer_field(opts, name)
        if hasattr(value, "resolve_expression"):
            cleaned[name] = value
        else:
            cleaned[name] = _clean(field, value, name, using)
    return cleaned


def offer_field(opts: AssignmentOptions, name: str) -> Field[Any, Any]:
    """The field ``name`` an offer may set, or :class:`.InvalidArgument` saying why not."""
    reserved = {
        opts.status_field,
        opts.assignee_field,
        opts.assignee_attname,
        *MANAGED_FIELDS,
    }
    if name in reserved:
        raise InvalidArgument(
            f"{name} is set by the offer itself; do not pass it.", argument=name
        )
    try:
        field = opts.model._meta.get_field(name)
    except FieldDoesNotExist:
        raise InvalidArgument(
            f"{opts.model._meta.label} has no field {name!r}.", argument=name
        ) from None
    if not getattr(field, "concrete", False) or field.many_to_many:
        raise InvalidArgument(f"{name} can not be set by an offer.", argument=name)
    return field  # type: ignore[return-value]


def offer_seconds(
    model: type[models.Model],
    opts: AssignmentOptions,
    pk: Any,
    assignee: Any,
    assignee_pk: Any,
    override: Any,
    using: str,
) -> float:
    """The offer's timeout in seconds: the per-offer ``override``, or the model's.

    A callable timeout gets the real instance, read only when the row exists
    and is pending (otherwise the refusal the offer would raise), and the
    assignee as an instance even when the caller gave its key.
    """
    if override is not None:
        return positive_seconds(override, "timeout")
    if not opts.timeout_needs_instance:
        return opts.timeout_seconds()
    instance = (
        model._base_manager.using(using)
        .filter(pk=pk, **{opts.status_field: opts.pending})
        .first()
    )
    if instance is None:
        raise why_not_pending(model, opts, pk, assignee_pk, using)
    if not isinstance(assignee, models.Model):
        assignee = opts.assignee_rows(assignee_pk, using).first()
        if assignee is None:
            raise unknown_assignee(opts, assignee_pk)
    return opts.timeout_seconds(instance, assignee)


def _clean(field: Field[Any, Any], value: Any, name: str, using: str) -> Any:
    if value is None:
        if field.null:
            return None
        raise InvalidArgument(f"{name} can not be None.", argument=name)
    if field.is_relation:
        return _related(field, value, name, using)
    if isinstance(field, (models.CharField, models.TextField)):
        require_text(value, name)  # not str(value): a list is not text
    elif isinstance(field, models.IntegerField):
        low, high = integer_range(field, using)
        value = parse_integer(value, name, low=low, high=high)
    try:
        return field.clean(value, None)
    except (ValidationError, TypeError, ValueError, AttributeError) as err:
        detail = "; ".join(getattr(err, "messages", [str(err)]))
        raise InvalidArgument(
            f"{shown(value)} is not a valid {name}: {detail}", argument=name
        ) from err


def _related(field: Any, value: Any, name: str, using: str) -> Any:
    """A foreign key's value: an instance or a key of a row that exists.

    Checked here because PostgreSQL and SQLite defer foreign key checks to the
    commit, long after ``offer()`` returned.
    """
    related = field.related_model
    target = field.target_field
    if isinstance(value, models.Model):
        if not isinstance(value, related):
            raise InvalidArgument(
                f"{name} refers to {related._meta.label}, not {type(value).__name__}.",
                argument=name,
            )
        key = getattr(value, target.attname)
    else:
        key = parse_key(target, value, name, using)
    if key is None or not (
        related._base_manager.using(using).filter(**{target.attname: key}).exists()
    ):
        raise InvalidArgument(
            f"{related._meta.verbose_name} {key} does not exist.", argument=name
        )
    return value if isinstance(value, models.Model) else key
