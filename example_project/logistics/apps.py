"""App configuration of the GTS logistics app."""

from __future__ import annotations

from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    """Registers the logistics app under the label the guide's task names use."""

    name = "logistics"
    verbose_name = "GTS logistics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Deactivate device tokens that FCM reports as invalid."""
        from django_assignment_timeout.signals import fcm_token_invalid
        from logistics.notifications import deactivate_token

        fcm_token_invalid.connect(
            deactivate_token, dispatch_uid="logistics_deactivate_token"
        )
