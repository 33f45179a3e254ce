"""Health checks for django-health-check 4.x (extra ``health``): is expiry working?

Three checks, each reading :mod:`django_assignment_timeout.status`:

- :class:`SweeperHealthCheck`: every adopting model was swept within
  ``intervals`` sweep intervals (a stopped sweeper is otherwise silent: offers
  still end lazily on accept, but nobody is told).
- :class:`OutboxHealthCheck`: the oldest event waiting for delivery is younger
  than ``max_age`` seconds (notifiers down, or no relay running).
- :class:`DueOffersHealthCheck`: no open offer is more than ``intervals``
  sweep intervals past its deadline (a sweeper that runs but can not keep up).

Add them to a ``HealthCheckView``, with options as django-health-check takes
them::

    HealthCheckView.as_view(checks=[
        "health_check.checks.Database",
        *django_assignment_timeout.health.CHECKS,
        ("django_assignment_timeout.health.OutboxHealthCheck", {"max_age": 120}),
    ])

Importing this module without the extra raises a
:class:`~django_assignment_timeout.exceptions.MissingExtraError` naming
``pip install 'django-assignment-timeout[health]'``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, connections, router
from django.utils.connection import ConnectionDoesNotExist

from django_assignment_timeout.clock import database_now
from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import (
    ConfigurationError,
    InvalidArgument,
    MissingExtraError,
)
from django_assignment_timeout.heartbeat import throttle_seconds
from django_assignment_timeout.options import assignment_models
from django_assignment_timeout.status import model_status, outbox_status
from django_assignment_timeout.validation import is_positive_number

try:
    from health_check.base import HealthCheck
    from health_check.exceptions import ServiceUnavailable
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "django_assignment_timeout.health", "health", "health_check"
    ) from err

__all__ = [
    "CHECKS",
    "DueOffersHealthCheck",
    "OutboxHealthCheck",
    "SweeperHealthCheck",
]

#: The three checks with their default options, for ``HealthCheckView(checks=...)``.
CHECKS = (
    "django_assignment_timeout.health.SweeperHealthCheck",
    "django_assignment_timeout.health.OutboxHealthCheck",
    "django_assignment_timeout.health.DueOffersHealthCheck",
)

T = TypeVar("T")


@dataclasses.dataclass
class _StatusCheck(HealthCheck):
    """What the three share: options checked once, the status read safely."""

    #: Read every table from this database (default: where the router reads).
    using: str | None = None

    def _require_positive(self, name: str) -> None:
        value = getattr(self, name)
        if not is_positive_number(value):
            raise InvalidArgument(
                f"{type(self).__name__}({name}=...) must be a positive number, "
                f"not {value!r}."
            )

    def _read(self, read: Callable[[], T]) -> T:
        """Run ``read`` in this thread, closing a connection it had to open.

        django-health-check runs a synchronous check in an executor thread,
        which owns its connections: one left open there would outlive the
        request. A database error is the service being unavailable, said
        without the driver's message (it may name hosts or users).
        """
        alias = self.using or router.db_for_read(AssignmentEvent)
        try:
            connection = connections[alias]
        except ConnectionDoesNotExist as err:
            raise ServiceUnavailable(f"no database alias {alias!r}") from err
        must_close = connection.connection is None
        try:
            return read()
        except DatabaseError as err:
            raise ServiceUnavailable(
                f"database error reading the status: {type(err).__name__}"
            ) from err
        finally:
            if must_close:
                connection.close()

    def _interval(self) -> float:
        try:
            return sweep_interval()
        except ConfigurationError as err:
            raise ServiceUnavailable(
                "ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL is invalid (see check E011)"
            ) from err

    def _models(self) -> list[type]:
        return list(assignment_models())


@dataclasses.dataclass
class SweeperHealthCheck(_StatusCheck):
    """Every adopting model was swept within ``intervals`` sweep intervals."""

    intervals: float = 2.0

    def __post_init__(self) -> None:
        self._require_positive("intervals")

    def run(self) -> None:
        """Unavailable if a model was never swept, or not within the limit.

        The limit is ``intervals`` sweep intervals, or ``intervals``
        heartbeat gaps where those are longer (an interval under a second:
        a sweeper stamps its heartbeat at most once a second).
        """
        limit = self.intervals * max(self._interval(), throttle_seconds())
        stale = self._read(lambda: self._stale(limit))
        if stale:
            raise ServiceUnavailable("; ".join(stale))

    def _stale(self, limit: float) -> list[str]:
        now = database_now(self.using or router.db_for_read(AssignmentEvent))
        stale = []
        for model in self._models():
            status = model_status(model, now, using=self.using)
            age = status.last_swept_age_seconds
            if age is None:
                stale.append(f"{status.model} was never swept")
            elif age > limit:
                stale.append(
                    f"{status.model} last swept {age:.0f} s ago (limit {limit:g} s)"
                )
        return stale


@dataclasses.dataclass
class OutboxHealthCheck(_StatusCheck):
    """The oldest event waiting for delivery is younger than ``max_age`` seconds."""

    max_age: float = 300.0

    def __post_init__(self) -> None:
        self._require_positive("max_age")

    def run(self) -> None:
        """Unavailable when notifications wait longer than ``max_age``."""

        def read() -> float | None:
            now = database_now(self.using or router.db_for_read(AssignmentEvent))
            return outbox_status(now, using=self.using).oldest_pending_age_seconds

        age = self._read(read)
        if age is not None and age > self.max_age:
            raise ServiceUnavailable(
                f"the oldest undelivered event is {age:.0f} s old "
                f"(limit {self.max_age:g} s)"
            )


@dataclasses.dataclass
class DueOffersHealthCheck(_StatusCheck):
    """No open offer is more than ``intervals`` sweep intervals overdue."""

    intervals: float = 3.0

    def __post_init__(self) -> None:
        self._require_positive("intervals")

    def run(self) -> None:
        """Unavailable when a due offer has waited too long for its expiry."""
        limit = self.intervals * self._interval()

        def read() -> list[str]:
            now = database_now(self.using or router.db_for_read(AssignmentEvent))
            late = []
            for model in self._models():
                status = model_status(model, now, using=self.using)
                overdue = status.oldest_overdue_seconds
                if overdue is not None and overdue > limit:
                    late.append(
                        f"{status.model} has {status.due_offers} due offer(s), the "
                        f"oldest {overdue:.0f} s overdue (limit {limit:g} s)"
                    )
            return late

        late = self._read(read)
        if late:
            raise ServiceUnavailable("; ".join(late))
