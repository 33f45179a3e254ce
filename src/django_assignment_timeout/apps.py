"""The Django app configuration."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssignmentTimeoutConfig(AppConfig):
    """Registers the settings defaults and the system checks."""

    name = "django_assignment_timeout"
    label = "assignment_timeout"
    verbose_name = _("Assignment timeouts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing these registers the settings defaults and the checks.
        from django_assignment_timeout import checks, conf  # noqa: F401
        from django_assignment_timeout.schedulers import ready as scheduler_ready

        # The scheduler registers its tasks (Celery, Huey) in web and worker alike.
        scheduler_ready()
