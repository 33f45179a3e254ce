"""Settings, declared with django-appconf and read at use time.

django-appconf puts each default on ``django.conf.settings`` under the
``ASSIGNMENT_TIMEOUT_`` prefix. Values are always read back through
``settings`` when they are used (never from the class attributes, which are
fixed at import), so ``override_settings`` reaches them. Validation happens in
system checks (:mod:`django_assignment_timeout.checks`), not here.
"""

from __future__ import annotations

from typing import Any

from appconf import AppConf
from django.conf import settings

DEFAULT_SCHEDULER = "django_assignment_timeout.schedulers.command.CommandScheduler"
DEFAULT_NOTIFIER = "django_assignment_timeout.notifiers.log.LogNotifier"


class AssignmentTimeoutConf(AppConf):  # type: ignore[misc]
    """Defaults for every ``ASSIGNMENT_TIMEOUT_*`` setting."""

    #: Seconds an assignee has to accept an offer, unless the model says otherwise.
    SECONDS = 300
    #: Seconds between periodic sweeps (beat entry, Huey period, ``--loop`` interval).
    SWEEP_INTERVAL = 60
    #: Rows expired per transaction by a sweep (the portable path caps it at
    #: 5,000). Each batch pays a commit that flushes its WAL, so fewer, larger
    #: batches are faster; the rows a batch locks are all past their deadline,
    #: so the locks make no accept wait that could still succeed.
    BATCH_SIZE = 10_000
    #: Batches one sweep run may take before it returns (and reports more to do).
    MAX_BATCHES = 200
    #: The scheduler backend: what triggers sweeps, precise expiry and delivery.
    SCHEDULER: dict[str, Any] = {"BACKEND": DEFAULT_SCHEDULER, "OPTIONS": {}}
    #: Notifier backends, configured like ``CACHES``.
    NOTIFIERS: dict[str, dict[str, Any]] = {
        "default": {"BACKEND": DEFAULT_NOTIFIER, "OPTIONS": {}}
    }
    #: Events one delivery run claims per batch.
    DELIVERY_BATCH_SIZE = 100
    #: Tries before an event is marked dead.
    DELIVERY_MAX_ATTEMPTS = 8
    #: First retry delay in seconds; doubles on every try, with jitter.
    DELIVERY_BACKOFF = 5.0
    #: Upper bound of one retry delay in seconds.
    DELIVERY_BACKOFF_MAX = 3600.0
    #: Seconds a claimed event stays invisible to other relays (a crash re-sends after it).
    DELIVERY_LEASE = 120.0

    class Meta:
        prefix = "ASSIGNMENT_TIMEOUT"


class _Settings:
    """Typed, read-at-use-time view of the ``ASSIGNMENT_TIMEOUT_*`` settings."""

    def _get(self, name: str) -> Any:
        return getattr(settings, f"ASSIGNMENT_TIMEOUT_{name}")

    @property
    def SECONDS(self) -> float:
        return self._get("SECONDS")  # type: ignore[no-any-return]

    @property
    def SWEEP_INTERVAL(self) -> float:
        return self._get("SWEEP_INTERVAL")  # type: ignore[no-any-return]

    @property
    def BATCH_SIZE(self) -> int:
        return self._get("BATCH_SIZE")  # type: ignore[no-any-return]

    @property
    def MAX_BATCHES(self) -> int:
        return self._get("MAX_BATCHES")  # type: ignore[no-any-return]

    @property
    def SCHEDULER(self) -> dict[str, Any]:
        return self._get("SCHEDULER")  # type: ignore[no-any-return]

    @property
    def NOTIFIERS(self) -> dict[str, dict[str, Any]]:
        return self._get("NOTIFIERS")  # type: ignore[no-any-return]

    @property
    def DELIVERY_BATCH_SIZE(self) -> int:
        return self._get("DELIVERY_BATCH_SIZE")  # type: ignore[no-any-return]

    @property
    def DELIVERY_MAX_ATTEMPTS(self) -> int:
        return self._get("DELIVERY_MAX_ATTEMPTS")  # type: ignore[no-any-return]

    @property
    def DELIVERY_BACKOFF(self) -> float:
        return self._get("DELIVERY_BACKOFF")  # type: ignore[no-any-return]

    @property
    def DELIVERY_BACKOFF_MAX(self) -> float:
        return self._get("DELIVERY_BACKOFF_MAX")  # type: ignore[no-any-return]

    @property
    def DELIVERY_LEASE(self) -> float:
        return self._get("DELIVERY_LEASE")  # type: ignore[no-any-return]


app_settings = _Settings()
