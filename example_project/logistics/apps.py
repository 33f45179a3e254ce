"""App configuration of the GTS logistics app."""

from __future__ import annotations

from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    """Registers the logistics app under the label the guide's task names use."""

    name = "logistics"
    verbose_name = "GTS logistics"
    default_auto_field = "django.db.models.BigAutoField"
