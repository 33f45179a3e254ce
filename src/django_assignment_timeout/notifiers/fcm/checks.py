"""Checks of the FCM backend's sending options (ids E070-E074)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.checks import Error

from django_assignment_timeout.notifiers.fcm.app import DEFAULT_CONCURRENCY
from django_assignment_timeout.notifiers.fcm.concurrent import TRANSPORTS
from django_assignment_timeout.notifiers.fcm.messages import DEFAULT_ENDED_OFFER_TTL

if TYPE_CHECKING:
    from django.core.checks import CheckMessage

__all__ = ["sending_option_errors"]

_CHECK = "assignment_timeout"


def sending_option_errors(where: str, options: dict[str, Any]) -> list[CheckMessage]:
    """``ended_offer_ttl`` (E070), ``max_concurrency`` (E071), ``transport`` (E072)."""
    errors: list[CheckMessage] = []
    ttl = options.get("ended_offer_ttl", DEFAULT_ENDED_OFFER_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        errors.append(
            Error(
                f"{where}: ended_offer_ttl must be a positive number of "
                f"seconds, not {ttl!r}.",
                hint="How long FCM keeps an ended offer's message, e.g. 86400.",
                id=f"{_CHECK}.E070",
            )
        )
    limit = options.get("max_concurrency", DEFAULT_CONCURRENCY)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        errors.append(
            Error(
                f"{where}: max_concurrency must be a positive integer, not {limit!r}.",
                hint="Sends in flight at once, e.g. 100.",
                id=f"{_CHECK}.E071",
            )
        )
    transport = options.get("transport", "threads")
    if not isinstance(transport, str) or transport not in TRANSPORTS:
        errors.append(
            Error(
                f"{where}: transport must be one of {sorted(TRANSPORTS)}, "
                f"not {transport!r}.",
                hint="'threads' unless you measured 'async' faster.",
                id=f"{_CHECK}.E072",
            )
        )
    return errors
