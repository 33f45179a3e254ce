"""Checking values that callers and settings pass in: one rule for each kind.

Values are typed ``object`` here on purpose: settings and callers need not
follow the type hints, and the system checks and the runtime must agree on
what they accept.
"""

from __future__ import annotations

import math
import numbers
from datetime import timedelta

from django_assignment_timeout.exceptions import ConfigurationError, InvalidArgument

__all__ = [
    "is_positive_int",
    "is_positive_number",
    "is_real_number",
    "positive_seconds",
    "require_attempt",
    "require_positive_ints",
]


def is_real_number(value: object) -> bool:
    """Whether ``value`` is a real number (int, float, Fraction...) but not a bool."""
    # A plain bool rather than a type guard: typeshed's numbers.Real has no
    # __gt__, so callers compare the value with the type they received it as.
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def is_positive_number(value: object) -> bool:
    """A real number, greater than zero and not infinite (NaN is not > 0)."""
    return is_real_number(value) and value > 0 and value != math.inf  # type: ignore[operator]


def is_positive_int(value: object) -> bool:
    """An ``int`` (not a bool) of at least 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def require_positive_ints(**values: object) -> None:
    """Raise :class:`.InvalidArgument` unless every value is a positive int."""
    for name, value in values.items():
        if not is_positive_int(value):
            raise InvalidArgument(f"{name} must be a positive integer, not {value!r}.")


def require_attempt(attempt: object) -> int | None:
    """``attempt`` if it is None or a positive int, else :class:`.InvalidArgument`."""
    if attempt is not None:
        require_positive_ints(attempt=attempt)
    return attempt  # type: ignore[return-value]


def positive_seconds(value: object, name: str, *, config: bool = False) -> float:
    """``value`` (a number or a timedelta) as positive, finite seconds.

    With ``config`` the value came from a setting or a model declaration: a
    string such as ``"300"`` (settings read from the environment arrive as
    text) is accepted, and a bad value is a :class:`.ConfigurationError`
    rather than an :class:`.InvalidArgument`.
    """
    error = ConfigurationError if config else InvalidArgument
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, str) and config:
        try:
            value = float(value)
        except ValueError:
            raise error(f"{name} must be a number of seconds, not {value!r}.") from None
    if not is_real_number(value):
        raise error(f"{name} must be a number of seconds, not {value!r}.")
    if not is_positive_number(value):
        raise error(f"{name} must be a positive number of seconds, not {value!r}.")
    return float(value)  # type: ignore[arg-type]
