"""The dispatch pages' app configuration."""

from __future__ import annotations

from django.apps import AppConfig


class DispatchConfig(AppConfig):
    """Pages only: no models of its own."""

    name = "dispatch"
    verbose_name = "GTS dispatch pages"
