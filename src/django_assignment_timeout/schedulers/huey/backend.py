"""The Huey scheduler: a periodic, locked sweep and a task per offer at its deadline.

Settings::

    INSTALLED_APPS = [..., "huey.contrib.djhuey"]
    HUEY = {"huey_class": "huey.SqliteHuey", "filename": "huey.db"}  # or RedisHuey
    ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": "django_assignment_timeout.schedulers.huey.HueyScheduler",
    }

Run ``manage.py run_huey``. Huey checks periodic tasks once a minute, so
the sweep runs every ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` seconds rounded to
whole minutes; the per-offer task makes expiry precise regardless.

OPTIONS: ``precise`` (default True) and ``deliver`` (default True), as for
the Celery backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.checks import Error

from django_assignment_timeout.exceptions import ConfigurationError, MissingExtraError
from django_assignment_timeout.schedulers.base import BaseScheduler
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

__all__ = ["HueyScheduler", "huey_configured"]


def huey_configured() -> bool:
    """Whether the project set ``HUEY`` and installed ``huey.contrib.djhuey``."""
    return hasattr(settings, "HUEY") and apps.is_installed("huey.contrib.djhuey")


class HueyScheduler(BaseScheduler):
    """``run_huey`` sweeps every interval and expires each offer at its deadline."""

    supports_periodic_sweep = True
    supports_precise_expiry = True
    supports_deferred_delivery = True
    known_options = frozenset({"precise", "deliver"})

    def ready(self) -> None:
        """Register the tasks with djhuey's Huey, once the project configured it."""
        if huey_configured():
            self._tasks()

    def check(self) -> list[CheckMessage]:
        """Unknown options (E021); Huey not configured for Django (E022)."""
        errors = super().check()
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

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Schedule ``expire_offer`` at ``deadline`` (Huey converts it to UTC)."""
        if self.options.get("precise", True):
            self._tasks().expire_offer.schedule(
                args=(model._meta.label, task_pk(pk), attempt), eta=deadline
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
