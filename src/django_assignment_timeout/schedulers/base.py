"""The scheduler backend interface.

A scheduler triggers work; it is never the source of truth. A duplicate, late
or missing trigger is harmless because every task re-checks on the database
clock and the periodic sweep repairs whatever a lost trigger left behind.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from django_assignment_timeout.backends import BaseBackend

if TYPE_CHECKING:
    from datetime import datetime

    from django.db import models

__all__ = ["SETTING", "BaseScheduler"]

SETTING = "ASSIGNMENT_TIMEOUT_SCHEDULER"


class BaseScheduler(BaseBackend):
    """Base class of scheduler backends, built as ``Backend(alias, options)``.

    Subclasses set the ``supports_*`` flags and implement the two triggers.
    """

    setting: ClassVar[str] = SETTING
    unknown_option_id: ClassVar[str] = "assignment_timeout.E021"

    #: The backend runs the sweep periodically by itself.
    supports_periodic_sweep: ClassVar[bool] = False
    #: The backend can run one offer's expiry at its deadline.
    supports_precise_expiry: ClassVar[bool] = False
    #: The backend can run notification delivery in the background.
    supports_deferred_delivery: ClassVar[bool] = False

    @property
    def where(self) -> str:
        """The one scheduler is configured in the setting itself, not under an alias."""
        return SETTING

    def ready(self) -> None:
        """Register this backend's tasks with its framework, from ``AppConfig.ready``.

        Workers import the project's Django settings and run ``ready``, so
        tasks registered here exist in the worker as well as in the web
        process. The default registers nothing.
        """

    @abc.abstractmethod
    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Arrange for offer (``model``, ``pk``, ``attempt``) to expire at ``deadline``.

        Called after the offering transaction commits. A backend without
        precise expiry does nothing: the periodic sweep expires the offer.
        """

    def arm_upcoming(self, interval: float) -> int:
        """Send precise tasks for offers whose deadline came within reach.

        Called by the periodic sweep every ``interval`` seconds, for a backend
        that sends precise tasks only within a horizon
        (:class:`~django_assignment_timeout.schedulers.horizon.EtaHorizon`).
        Returns how many it sent; the default sends none.
        """
        return 0

    @abc.abstractmethod
    def schedule_delivery(self) -> None:
        """Arrange for undelivered events to be delivered soon.

        Called after a transaction that wrote events commits. A backend
        without deferred delivery does nothing: the next sweep run delivers.
        """
