"""The ETA horizon: how far ahead a precise backend sends an offer's task.

A broker is a poor clock for distant deadlines. Celery fetches an ETA task at
once and holds it, unacknowledged, in the worker's memory until it runs; on
Redis (and SQS) a message unacknowledged for longer than the transport's
``visibility_timeout`` (Redis: 3600 s, SQS: 1800 s by default) is delivered
again, to a second worker, and again after that. So a precise backend sends an
ETA task only for a deadline inside its horizon, safely below that window;
later deadlines are armed by the periodic sweep when they come within range
(:mod:`.arming`), and in the meantime the sweep itself would expire them.

A Celery beat entry of its own arms every ``arm_interval`` seconds (default
:data:`DEFAULT_ARM_INTERVAL`), in slices: arming once per sweep interval
published thousands of ETA tasks at once, and that burst delayed the timers
of offers falling due meanwhile by seconds.

Every ETA task also carries ``expires``: one sweep interval after the
deadline. A task that could not run by then (workers down) is dropped, since
the sweep has expired its offer already.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.checks import Error
from django.utils import timezone

from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.schedulers.arming import arm_upcoming
from django_assignment_timeout.schedulers.base import SETTING
from django_assignment_timeout.validation import positive_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping

    from django.core.checks import CheckMessage
    from django.db import models

__all__ = [
    "ARM_INTERVAL_OPTION",
    "ARM_WINDOW_FACTOR",
    "DEFAULT_ARM_INTERVAL",
    "DEFAULT_ETA_HORIZON",
    "HORIZON_OPTION",
    "EtaHorizon",
    "arm_interval_of",
    "arming_window",
    "check_arm_interval",
    "check_horizon",
    "configured_arm_interval",
    "horizon_of",
    "task_expires",
    "within_horizon",
]

#: The OPTIONS key of a precise backend that sets its horizon, in seconds.
HORIZON_OPTION = "eta_horizon"
#: Celery's default: a quarter of Redis' visibility_timeout, half of SQS'.
DEFAULT_ETA_HORIZON = 900.0
#: The arming window, in sweep intervals. Above 1 so that consecutive ticks'
#: windows overlap and a tick a little late leaves no deadline unarmed; below
#: 2 so that an offer is armed by one tick, at most two, never by every tick.
ARM_WINDOW_FACTOR = 1.5

#: The OPTIONS key of the Celery backend that sets how often its arm task runs.
ARM_INTERVAL_OPTION = "arm_interval"
#: Short, so each arming tick publishes a few dozen tasks, not thousands
#: (about rate * interval * ARM_WINDOW_FACTOR), yet one cheap indexed query.
DEFAULT_ARM_INTERVAL = 5.0

_WHERE = f"{SETTING}['OPTIONS']['{HORIZON_OPTION}']"
_ARM_WHERE = f"{SETTING}['OPTIONS']['{ARM_INTERVAL_OPTION}']"


def horizon_of(options: Mapping[str, Any], default: float | None) -> float | None:
    """The horizon in seconds from ``options`` (None: every deadline is sent).

    A number of seconds, a timedelta or numeric text, as other durations in
    settings; a bad value is a :class:`.ConfigurationError` (check E045).
    """
    value = options.get(HORIZON_OPTION, default)
    if value is None:
        return None
    return positive_seconds(value, _WHERE, config=True)


def check_horizon(
    options: Mapping[str, Any], default: float | None
) -> list[CheckMessage]:
    """E045 when the horizon option is not a positive number of seconds."""
    try:
        horizon_of(options, default)
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint=f"Seconds, e.g. {DEFAULT_ETA_HORIZON:g} (15 minutes), or None "
                "to send every deadline as an ETA task.",
                id="assignment_timeout.E045",
            )
        ]
    return []


def arm_interval_of(options: Mapping[str, Any]) -> float:
    """Seconds between arming ticks from ``options``; a bad value raises (E047)."""
    value = options.get(ARM_INTERVAL_OPTION, DEFAULT_ARM_INTERVAL)
    return positive_seconds(value, _ARM_WHERE, config=True)


def configured_arm_interval() -> float:
    """:func:`arm_interval_of` the ``ASSIGNMENT_TIMEOUT_SCHEDULER`` setting's OPTIONS.

    Read from the setting, not the backend, so that a project's ``celery.py``
    can build its beat schedule before the app registry is ready.
    """
    from django.conf import settings

    config = getattr(settings, SETTING, None)
    options = config.get("OPTIONS") if isinstance(config, dict) else None
    return arm_interval_of(options if isinstance(options, dict) else {})


def check_arm_interval(
    options: Mapping[str, Any], horizon: float | None
) -> list[CheckMessage]:
    """E047: not positive seconds; E048: its window does not fit in the horizon.

    An offer is armed by the first tick after its deadline came within the
    horizon; a window of :data:`ARM_WINDOW_FACTOR` intervals reaching past
    the horizon would arm deadlines late, or not before they are due.
    """
    try:
        interval = arm_interval_of(options)
    except ConfigurationError as err:
        return [
            Error(
                str(err),
                hint=f"Seconds, e.g. {DEFAULT_ARM_INTERVAL:g} (the default).",
                id="assignment_timeout.E047",
            )
        ]
    if horizon is None or ARM_WINDOW_FACTOR * interval < horizon:
        return []
    return [
        Error(
            f"{_ARM_WHERE} is {interval:g} seconds: its arming window "
            f"({ARM_WINDOW_FACTOR:g} intervals) does not fit in the eta_horizon "
            f"({horizon:g} seconds), so offers would be armed late.",
            hint=f"Keep it well below the horizon, e.g. {DEFAULT_ARM_INTERVAL:g} "
            "(the default).",
            id="assignment_timeout.E048",
        )
    ]


def within_horizon(deadline: datetime, horizon: float | None) -> bool:
    """Whether ``deadline`` is at most ``horizon`` seconds from now.

    Python's clock, not the database's: a deadline a clock skew beyond the
    horizon is armed by the next sweep, whose window reaches past it.
    """
    if horizon is None:
        return True
    return (deadline - timezone.now()).total_seconds() <= horizon


def task_expires(deadline: datetime) -> datetime:
    """When an offer's ETA task is dropped: one sweep interval after its deadline."""
    return deadline + timedelta(seconds=sweep_interval())


def arming_window(interval: float, horizon: float) -> tuple[float, float]:
    """The deadlines one arming tick arms, as seconds from now: ``(low, high]``.

    ``high`` is the horizon; ``low`` lies :data:`ARM_WINDOW_FACTOR` intervals
    before it, never in the past (due offers are the sweep's).
    """
    return max(horizon - ARM_WINDOW_FACTOR * interval, 0.0), horizon


class EtaHorizon:
    """Mixin of the precise backends: send ETA tasks within the horizon only.

    The backend implements :meth:`send_expiry`, which sends one offer's ETA
    task unconditionally, and sets :attr:`default_eta_horizon`.
    """

    options: dict[str, Any]
    #: The horizon when OPTIONS does not set one (None: no horizon).
    default_eta_horizon: ClassVar[float | None] = DEFAULT_ETA_HORIZON

    @property
    def precise(self) -> bool:
        """Whether ``OPTIONS["precise"]`` (default True) asks for ETA tasks."""
        return bool(self.options.get("precise", True))

    @property
    def eta_horizon(self) -> float | None:
        """This backend's horizon in seconds, or None for none."""
        return horizon_of(self.options, self.default_eta_horizon)

    def send_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Send one offer's ETA task for ``deadline``, with ``expires``."""
        raise NotImplementedError  # pragma: no cover - each backend has its own

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Send the offer's ETA task if its deadline is within the horizon.

        A later deadline is left to the periodic sweep, which arms it when it
        comes within range (:meth:`arm_upcoming`).
        """
        if self.precise and within_horizon(deadline, self.eta_horizon):
            self.send_expiry(model, pk, attempt, deadline)

    def arm_upcoming(self, interval: float) -> int:
        """Send ETA tasks for open offers that came within the horizon.

        Called every ``interval`` seconds (by Celery's arm task, by Huey's
        sweep). Returns how
        many tasks it sent; 0 without a horizon (every task was sent at offer
        time) or without precise expiry.
        """
        horizon = self.eta_horizon
        if not self.precise or horizon is None:
            return 0
        low, high = arming_window(interval, horizon)
        return arm_upcoming(self.send_expiry, low, high)
