"""The Django app configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout import metrics, schedulers

# Imported for their side effect: they register the settings, backend,
# retention and metrics checks.
from django_assignment_timeout.checks import (  # noqa: F401
    backends,
    metrics_settings,
    retention,
    settings,
)
from django_assignment_timeout.conf import register_defaults

__all__ = ["AssignmentTimeoutConfig"]


class AssignmentTimeoutConfig(AppConfig):
    """Registers the settings defaults, the system checks, the scheduler's tasks and metrics."""

    name = "django_assignment_timeout"
    label = "assignment_timeout"
    verbose_name = _("Assignment timeouts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        register_defaults()
        # The scheduler registers its tasks (Celery, Huey) in web and worker alike.
        schedulers.ready()
        # Only with ASSIGNMENT_TIMEOUT_METRICS on (and the extra installed).
        metrics.install()
