"""Checking values that callers and settings pass in: one rule for each kind.

Values are typed ``object`` here on purpose: settings and callers need not
follow the type hints, and the system checks and the runtime must agree on
what they accept.
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import timedelta

from django_assignment_timeout.exceptions import ConfigurationError, InvalidArgument

__all__ = [
    "DURATION_UNITS",
    "MAX_TIMEOUT_SECONDS",
    "duration_seconds",
    "is_positive_int",
    "is_positive_number",
    "is_real_number",
    "parse_integer",
    "positive_seconds",
    "require_attempt",
    "require_bool",
    "require_positive_ints",
    "require_text",
    "shown",
]

#: The longest offer: ten years. Far beyond any real offer, and far inside the
#: datetime range of every backend, so a deadline can always be stored.
MAX_TIMEOUT_SECONDS = 10 * 365 * 24 * 3600

#: Seconds in each unit a duration text may end with ("90d", "12h", "30m", "45s").
DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

_DURATION_TEXT = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,6})?)([dhms]?)")

# Decimal digits only: no "1_000" or " 12" (int() takes both), no "12.0".
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,40}")


def shown(value: object) -> str:
    """``repr(value)``, cut short: error messages echo what a client sent."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


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
            raise InvalidArgument(
                f"{name} must be a positive integer, not {shown(value)}.",
                argument=name,
            )


def parse_integer(
    value: object, name: str, *, low: int | None = None, high: int | None = None
) -> int:
    """``value`` as an int: an int (not a bool), or a string of decimal digits.

    Keys and attempts arrive as text from URLs and forms, so ``"12"`` is 12.
    A float or a Decimal is refused even when integral, rather than truncated
    (``12.7`` is not 12), and so is anything else. ``low`` and ``high`` are
    the column's range: a value outside it can not be stored or found.
    """
    text = isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is not None
    if text or (is_real_number(value) and isinstance(value, numbers.Integral)):
        number: int = int(value)  # type: ignore[call-overload]
    else:
        raise InvalidArgument(
            f"{name} must be an integer, not {shown(value)}.", argument=name
        )
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidArgument(f"{name} {number} is out of range.", argument=name)
    return number


def require_attempt(
    attempt: object, *, high: int | None = None, name: str = "attempt", low: int = 1
) -> int | None:
    """``attempt`` as an int from ``low`` (parsed like a key), or None."""
    if attempt is None:
        return None
    return parse_integer(attempt, name, low=low, high=high)


def require_text(value: object, name: str) -> str:
    """``value`` if it is a string every backend can store, else :class:`.InvalidArgument`.

    PostgreSQL refuses NUL characters and no backend can encode a lone
    surrogate (which a JSON body can carry as ``"\\ud800"``).
    """
    if not isinstance(value, str):
        raise InvalidArgument(
            f"{name} must be a string, not {shown(value)}.", argument=name
        )
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain NUL characters.", argument=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(
            f"{name} is not valid Unicode text.", argument=name
        ) from None
    return value


def require_bool(value: object, name: str) -> bool:
    """``value`` if it is a bool: a flag given as ``"false"`` must not read as true."""
    if not isinstance(value, bool):
        raise InvalidArgument(
            f"{name} must be True or False, not {shown(value)}.", argument=name
        )
    return value


def positive_seconds(value: object, name: str, *, config: bool = False) -> float:
    """``value`` (a number or a timedelta) as positive, finite seconds.

    At most :data:`MAX_TIMEOUT_SECONDS`. With ``config`` the value came from a
    setting or a model declaration: a string such as ``"300"`` (settings read
    from the environment arrive as text) is accepted, and a bad value is a
    :class:`.ConfigurationError` rather than an :class:`.InvalidArgument`.
    """

    def error(message: str) -> Exception:
        if config:
            return ConfigurationError(message)
        return InvalidArgument(message, argument=name)

    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, str) and config:
        try:
            value = float(value)
        except ValueError:
            raise error(
                f"{name} must be a number of seconds, not {shown(value)}."
            ) from None
    if not is_real_number(value):
        raise error(f"{name} must be a number of seconds, not {shown(value)}.")
    if not is_positive_number(value):
        raise error(f"{name} must be a positive number of seconds, not {shown(value)}.")
    if value > MAX_TIMEOUT_SECONDS:  # type: ignore[operator]
        raise error(
            f"{name} must be at most {MAX_TIMEOUT_SECONDS} seconds (ten years), "
            f"not {shown(value)}."
        )
    return float(value)  # type: ignore[arg-type]


def duration_seconds(value: object, name: str, *, config: bool = False) -> float:
    """``value`` as positive seconds: what :func:`positive_seconds` takes, or text.

    Text is a number with an optional unit, ``d``, ``h``, ``m`` or ``s``
    (``"90d"``, ``"1.5h"``, ``"3600"``), as an operator types it on a command
    line or an environment variable carries it. Bad text is refused like any
    other bad value (:class:`.InvalidArgument`, or with ``config`` a
    :class:`.ConfigurationError`).
    """
    if isinstance(value, str):
        match = _DURATION_TEXT.fullmatch(value.strip())
        if match is None:
            message = (
                f"{name} must be a duration such as 90d, 12h, 30m, 45s or a "
                f"number of seconds, not {shown(value)}."
            )
            if config:
                raise ConfigurationError(message)
            raise InvalidArgument(message, argument=name)
        number, unit = match.groups()
        value = float(number) * DURATION_UNITS[unit or "s"]
    return positive_seconds(value, name, config=config)
