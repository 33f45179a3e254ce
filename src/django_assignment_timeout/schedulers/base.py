"""The scheduler backend interface.

A scheduler triggers work; it is never the source of truth. A duplicate, late
or missing trigger is harmless because every task re-checks on the database
clock and the periodic sweep repairs whatever a lost trigger left behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from django.core.checks import CheckMessage
    from django.db import models


class BaseScheduler:
    """Base class of scheduler backends. Subclasses override what they support."""

    #: The backend runs the sweep periodically by itself.
    supports_periodic_sweep = False
    #: The backend can run one offer's expiry at its deadline.
    supports_precise_expiry = False
    #: The backend can run notification delivery in the background.
    supports_deferred_delivery = False

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    #: OPTIONS keys this backend understands; any other key is check E021.
    known_options: frozenset[str] = frozenset()

    def check(self) -> list[CheckMessage]:
        """System-check messages about this backend's configuration."""
        from django.core.checks import Error

        unknown = sorted(set(self.options) - self.known_options)
        if not unknown:
            return []
        known = ", ".join(sorted(self.known_options)) or "none"
        return [
            Error(
                f"ASSIGNMENT_TIMEOUT_SCHEDULER['OPTIONS'] has unknown key(s) "
                f"{', '.join(map(repr, unknown))} for {type(self).__name__}.",
                hint=f"Known options: {known}.",
                id="assignment_timeout.E021",
            )
        ]

    def ready(self) -> None:
        """Register this backend's tasks with its framework, from ``AppConfig.ready``.

        Workers import the project's Django settings and run ``ready``, so
        tasks registered here exist in the worker as well as in the web
        process. The default registers nothing.
        """

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Arrange for offer (``model``, ``pk``, ``attempt``) to expire at ``deadline``.

        Called after the offering transaction commits. The default does
        nothing: the periodic sweep expires the offer.
        """

    def schedule_delivery(self) -> None:
        """Arrange for undelivered events to be delivered soon.

        Called after a transaction that wrote events commits. The default does
        nothing: the next sweep run delivers them.
        """
