"""App configuration of the tutorial's ``repairs`` app."""

from __future__ import annotations

from django.apps import AppConfig


class RepairsConfig(AppConfig):
    """The tutorial app."""

    name = "repairs"
    default_auto_field = "django.db.models.BigAutoField"
