"""System checks of a model's dispatch policy, ``AssignmentMeta.dispatch`` (E090-E096)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.checks import CheckMessage, Error
from django.db.models import Model

from django_assignment_timeout.exceptions import InvalidArgument
from django_assignment_timeout.lifecycle.arguments import offer_field
from django_assignment_timeout.options import options_for
from django_assignment_timeout.policies import ORDERS, Broadcast, Sequential

__all__ = ["check_dispatch"]

PREFIX = "assignment_timeout"


def check_dispatch(model: type[Model], policy: Any) -> list[CheckMessage]:
    """Validate ``policy``, the ``AssignmentMeta.dispatch`` of ``model`` (None: none)."""
    if policy is None:
        return []
    where = f"{model._meta.label}.AssignmentMeta.dispatch"

    def error(message: str, hint: str, id: str) -> Error:
        return Error(message, hint=hint, obj=model, id=id)

    if not isinstance(policy, (Sequential, Broadcast)):
        return [
            error(
                f"{where} is {policy!r}, not a dispatch policy.",
                "Use django_assignment_timeout.policies.Sequential(...) "
                "or Broadcast(...).",
                id=f"{PREFIX}.E090",
            )
        ]
    errors: list[CheckMessage] = []
    # The declaration is user input: its annotated types are not guaranteed.
    declared: Any = policy
    method = (
        getattr(model, declared.candidates, None)
        if isinstance(declared.candidates, str)
        else None
    )
    if not callable(method):
        errors.append(
            error(
                f"{where}.candidates is {policy.candidates!r}, which is not a "
                f"method of {model._meta.label}.",
                "Name a method that returns the assignees to offer to, best first.",
                id=f"{PREFIX}.E091",
            )
        )
    if policy.order not in ORDERS:
        errors.append(
            error(
                f"{where}.order is {policy.order!r}.",
                f"Use one of: {', '.join(ORDERS)}.",
                id=f"{PREFIX}.E092",
            )
        )
    limit = "max_rounds" if isinstance(policy, Broadcast) else "max_attempts"
    if not _positive_int(getattr(declared, limit), allow_none=True):
        errors.append(
            error(
                f"{where}.{limit} is {getattr(declared, limit)!r}.",
                "Use a positive integer, or None for no limit.",
                id=f"{PREFIX}.E093",
            )
        )
    if isinstance(policy, Broadcast) and not _positive_int(declared.size):
        errors.append(
            error(
                f"{where}.size is {declared.size!r}.",
                "Use a positive integer: how many candidates each round offers to.",
                id=f"{PREFIX}.E096",
            )
        )
    deadline = declared.deadline
    seconds = deadline.total_seconds() if isinstance(deadline, timedelta) else deadline
    if deadline is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0 < seconds < float("inf")
    ):
        errors.append(
            error(
                f"{where}.deadline is {deadline!r}.",
                "Use a positive number of seconds or a timedelta, or None.",
                id=f"{PREFIX}.E094",
            )
        )
    errors += _check_offer_values(model, declared.offer_values, where, error)
    return errors


def _positive_int(value: Any, *, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_offer_values(
    model: type[Model], values: Any, where: str, error: Any
) -> list[CheckMessage]:
    # A name offer() refuses would make every candidate's offer fail, and the
    # chain end with nobody offered: say so at startup instead.
    hint = "A mapping of field names to values, as offer(**values) takes."
    if not isinstance(values, Mapping):
        return [error(f"{where}.offer_values is {values!r}.", hint, f"{PREFIX}.E095")]
    errors = []
    for name in values:
        try:
            offer_field(options_for(model), name)
        except (InvalidArgument, TypeError) as err:
            errors.append(error(f"{where}.offer_values: {err}", hint, f"{PREFIX}.E095"))
    return errors
