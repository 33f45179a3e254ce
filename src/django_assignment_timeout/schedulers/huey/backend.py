"""The Huey scheduler: a periodic, locked sweep and a task per offer at its deadline.

Settings::

    INSTALLED_APPS = [..., "huey.contrib.djhuey"]
    HUEY = {
        "huey_class": "huey.SqliteHuey",  # or RedisHuey
        "filename": "huey.db",
        "immediate": False,  # djhuey's default is DEBUG, and run_huey refuses it
    }
    ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": "django_assignment_timeout.schedulers.huey.HueyScheduler",
    }

Run ``manage.py run_huey``. Huey checks periodic tasks every 60 seconds,
counted from the consumer's start, so the sweep runs every
``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` seconds rounded to whole minutes; the
per-offer task makes expiry precise regardless.

OPTIONS: ``precise`` (default True) and ``deliver`` (default True), as for
the Celery backend, and ``eta_horizon`` (default None: no horizon). Huey keeps
a scheduled task in its storage's schedule (a Redis sorted set, a SQLite
table), not in the consumer's memory, and acknowledges nothing: a distant
deadline costs one schedule entry, and is not delivered twice. Set a horizon
in seconds to keep the schedule small anyway; the periodic sweep then arms
later deadlines as they come within range. Each task carries ``expires``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Warning

from django_assignment_timeout.exceptions import ConfigurationError, MissingExtraError
from django_assignment_timeout.schedulers.base import BaseScheduler
from django_assignment_timeout.schedulers.horizon import (
    HORIZON_OPTION,
    EtaHorizon,
    check_horizon,
    task_expires,
)
from django_assignment_timeout.schedulers.protocol import task_pk

try:
    import huey  # noqa: F401 - only to fail early, naming the extra
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("ASSIGNMENT_TIMEOUT_SCHEDULER", "huey", "huey") from err

if TYPE_CHECKING:
    from datetime import datetime
    from types import ModuleType

    from django.core.checks import CheckMessage
    from django.db import models

__all__ = ["HueyScheduler", "huey_configured", "immediate_by_default"]


def huey_configured() -> bool:
    """Whether the project set ``HUEY`` and installed ``huey.contrib.djhuey``."""
    return hasattr(settings, "HUEY") and apps.is_installed("huey.contrib.djhuey")


def immediate_by_default() -> bool:
    """Whether djhuey will run Huey in immediate mode without being asked to.

    djhuey's rule (``huey.contrib.djhuey``, Huey 2.x and 3.x): a ``HUEY``
    dict without an ``immediate`` key gets ``immediate = settings.DEBUG``.
    Read from the settings, not from djhuey, which builds its Huey (and may
    ``sys.exit``) when imported. A ``HUEY`` that is a Huey instance, or a
    dict that says ``immediate``, chose for itself.
    """
    config = getattr(settings, "HUEY", None)
    return (
        isinstance(config, dict)
        and "immediate" not in config
        and bool(getattr(settings, "DEBUG", False))
    )


class HueyScheduler(EtaHorizon, BaseScheduler):
    """``run_huey`` sweeps every interval and expires each offer at its deadline."""

    supports_periodic_sweep = True
    supports_precise_expiry = True
    supports_deferred_delivery = True
    known_options = frozenset({"precise", "deliver", HORIZON_OPTION})
    #: None: Huey's schedule lives in its storage, not in worker memory.
    default_eta_horizon = None

    def ready(self) -> None:
        """Register the tasks with djhuey's Huey, once the project configured it."""
        if huey_configured():
            self._tasks()

    def check(self) -> list[CheckMessage]:
        """Unknown options (E021); Huey not configured (E022); immediate by DEBUG (W027).

        And a bad ``eta_horizon`` (E045).
        """
        errors = super().check()
        errors.extend(check_horizon(self.options, self.default_eta_horizon))
        if huey_configured() and immediate_by_default():
            errors.append(
                Warning(
                    "Huey runs in immediate mode: DEBUG is True and HUEY does not "
                    "set 'immediate', so djhuey turns it on. run_huey refuses to "
                    "start in immediate mode, and without a consumer no sweep "
                    "runs and no offer is expired at its deadline.",
                    hint='Set "immediate": False in HUEY to run the consumer, or '
                    '"immediate": True to keep immediate mode on purpose (e.g. in '
                    "test settings).",
                    id="assignment_timeout.W027",
                )
            )
        if not huey_configured():
            errors.append(
                Error(
                    "The Huey scheduler needs the HUEY setting and "
                    "'huey.contrib.djhuey' in INSTALLED_APPS.",
                    hint='Add "huey.contrib.djhuey" to INSTALLED_APPS and set HUEY, '
                    'e.g. {"huey_class": "huey.SqliteHuey", "filename": "huey.db"}.',
                    id="assignment_timeout.E022",
                )
            )
        return errors

    def send_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Schedule ``expire_offer`` at ``deadline``, expiring one interval after it.

        Huey converts both to UTC.
        """
        self._tasks().expire_offer.schedule(
            args=(model._meta.label, task_pk(pk), attempt),
            eta=deadline,
            expires=task_expires(deadline),
        )

    def schedule_delivery(self) -> None:
        """Enqueue the ``deliver`` task."""
        if self.options.get("deliver", True):
            self._tasks().deliver()

    def _tasks(self) -> ModuleType:
        if not huey_configured():
            raise ConfigurationError(
                "The Huey scheduler is selected but HUEY is not configured "
                "(check E022)."
            )
        # Not at module level: djhuey reads settings.HUEY when imported and
        # may sys.exit() on a bad one, so only once the project configured it.
        from django_assignment_timeout.schedulers.huey import tasks

        return tasks
