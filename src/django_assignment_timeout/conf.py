"""Settings: each ``ASSIGNMENT_TIMEOUT_*`` setting declared once, typed, read at use time.

:class:`AppSettings` declares every setting with its type and default. Each
access reads ``django.conf.settings`` afresh (so ``override_settings`` reaches
it), falling back to the default. django-appconf puts the defaults on
``settings`` too, from the same declarations, once the app is ready
(:func:`register_defaults`): importing this module never touches settings,
so it is safe from a project's ``celery.py`` while settings are still loading.
Validation happens in the system checks (:mod:`django_assignment_timeout.checks`).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from appconf import AppConf
from django.conf import settings

from django_assignment_timeout.validation import duration_seconds, positive_seconds

__all__ = [
    "DEFAULT_NOTIFIER",
    "DEFAULT_SCHEDULER",
    "PREFIX",
    "AppSettings",
    "Setting",
    "app_settings",
    "event_retention",
    "register_defaults",
    "sweep_interval",
    "wake_probe_interval",
]

PREFIX = "ASSIGNMENT_TIMEOUT"
DEFAULT_SCHEDULER = "django_assignment_timeout.schedulers.command.CommandScheduler"
DEFAULT_NOTIFIER = "django_assignment_timeout.notifiers.log.LogNotifier"

T = TypeVar("T")


class Setting(Generic[T]):
    """One setting: its default, read from ``django.conf.settings`` at each access."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.name = f"{PREFIX}_{attr}"

    @overload
    def __get__(self, obj: None, owner: type) -> Setting[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: object, owner: type | None = None) -> T | Setting[T]:
        if obj is None:
            return self
        value: T = getattr(settings, self.name, self.default)
        return value


class AppSettings:
    """Every ``ASSIGNMENT_TIMEOUT_*`` setting with its type and default.

    Use the module's :data:`app_settings` instance: ``app_settings.SECONDS``.
    Values are typed as documented; a project may set anything, which the
    system checks report.
    """

    #: Seconds an assignee has to accept an offer, unless the model says otherwise.
    SECONDS = Setting[float](300)
    #: Seconds between periodic sweeps (beat entry, Huey period, ``--loop`` interval).
    SWEEP_INTERVAL = Setting[float](60)
    #: Rows expired per transaction by a sweep (the portable path caps it at
    #: 5,000). Each batch pays a commit that flushes its WAL, so fewer, larger
    #: batches are faster; the rows a batch locks are all past their deadline,
    #: so the locks make no accept wait that could still succeed.
    BATCH_SIZE = Setting[int](10_000)
    #: Batches one sweep run may take before it returns (and reports more to do).
    MAX_BATCHES = Setting[int](200)
    #: The scheduler backend: what triggers sweeps, precise expiry and delivery.
    SCHEDULER = Setting[dict[str, Any]]({"BACKEND": DEFAULT_SCHEDULER, "OPTIONS": {}})
    #: Notifier backends, configured like ``CACHES``.
    NOTIFIERS = Setting[dict[str, dict[str, Any]]](
        {"default": {"BACKEND": DEFAULT_NOTIFIER, "OPTIONS": {}}}
    )
    #: Events one delivery run claims per batch.
    DELIVERY_BATCH_SIZE = Setting[int](100)
    #: Tries before an event is marked dead.
    DELIVERY_MAX_ATTEMPTS = Setting[int](8)
    #: First retry delay in seconds; doubles on every try, with jitter.
    DELIVERY_BACKOFF = Setting[float](5.0)
    #: Upper bound of one retry delay in seconds.
    DELIVERY_BACKOFF_MAX = Setting[float](3600.0)
    #: Seconds a claimed event stays invisible to other relays (a crash re-sends after it).
    DELIVERY_LEASE = Setting[float](120.0)
    #: Seconds between a ``--loop``'s probes for new work where nothing can
    #: wake it: databases other than PostgreSQL, or while its PostgreSQL
    #: listener reconnects. It bounds how late such a loop sees a new offer.
    WAKE_PROBE_INTERVAL = Setting[float](0.25)
    #: Age (seconds, a timedelta, or text such as ``"90d"``) after which the
    #: periodic jobs prune delivered events; None (the default) never prunes.
    EVENT_RETENTION = Setting[Any](None)
    #: Count events, expiry lateness and notification results for Prometheus
    #: (extra ``metrics``); read once, when the app is ready.
    METRICS = Setting[bool](False)

    @classmethod
    def declared(cls) -> dict[str, Setting[Any]]:
        """Every declared setting by its short name (``"SECONDS"``)."""
        return {
            name: value
            for name, value in vars(cls).items()
            if isinstance(value, Setting)
        }


app_settings = AppSettings()


def sweep_interval() -> float:
    """``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` in seconds, by the rule check E011 applies.

    So a value the check passes ("60" from the environment, a timedelta) is
    one every scheduler runs with; a bad one is a ConfigurationError.
    """
    return positive_seconds(
        app_settings.SWEEP_INTERVAL, f"{PREFIX}_SWEEP_INTERVAL", config=True
    )


def wake_probe_interval() -> float:
    """``ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL`` in seconds, by the rule check E040 applies."""
    return positive_seconds(
        app_settings.WAKE_PROBE_INTERVAL, f"{PREFIX}_WAKE_PROBE_INTERVAL", config=True
    )


def event_retention() -> float | None:
    """``ASSIGNMENT_TIMEOUT_EVENT_RETENTION`` in seconds, or None when unset.

    By the rule check E055 applies, so a value it passes is one the periodic
    jobs prune with; a bad one is a ConfigurationError.
    """
    value = app_settings.EVENT_RETENTION
    if value is None:
        return None
    return duration_seconds(value, f"{PREFIX}_EVENT_RETENTION", config=True)


def register_defaults() -> type:
    """Put every default on ``django.conf.settings`` through django-appconf.

    Called from ``AppConfig.ready()``, when settings are loaded. Returns the
    AppConf class, built from :class:`AppSettings` so each default is
    written once.
    """

    # Creating an AppConf subclass reads and writes settings: not at import.
    class Meta:
        prefix = PREFIX

    namespace: dict[str, Any] = {
        name: setting.default for name, setting in AppSettings.declared().items()
    }
    namespace.update(Meta=Meta, __module__=__name__)
    return type("AssignmentTimeoutConf", (AppConf,), namespace)
