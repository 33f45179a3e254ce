"""How the GTS backend configures django-assignment-timeout from its environment.

Kept out of settings.py so the choice (embedded or Celery, log or FCM) reads
as two small functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COMMAND = "django_assignment_timeout.schedulers.command.CommandScheduler"
CELERY = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
LOG = "django_assignment_timeout.notifiers.log.LogNotifier"
FCM = "django_assignment_timeout.notifiers.fcm.FCMNotifier"


def scheduler(*, use_celery: bool) -> dict[str, Any]:
    """The library's Celery scheduler with a broker, else the command (embedded)."""
    if use_celery:
        return {"BACKEND": CELERY, "OPTIONS": {}}
    return {"BACKEND": COMMAND, "OPTIONS": {}}


def notifiers(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Always log; also push through FCM when credentials are configured.

    ``FCM_CREDENTIALS`` is a service-account JSON file (or set
    ``GOOGLE_APPLICATION_CREDENTIALS``); ``FCM_PROJECT_ID`` overrides the
    project it names. ``FCM_URL`` is for tests against a fake FCM server.
    """
    config: dict[str, dict[str, Any]] = {"log": {"BACKEND": LOG, "OPTIONS": {}}}
    credentials = env.get("FCM_CREDENTIALS") or env.get(
        "GOOGLE_APPLICATION_CREDENTIALS"
    )
    if credentials:
        options: dict[str, Any] = {
            "credentials": credentials,
            "token_resolver": "logistics.notifications.device_tokens",
        }
        if env.get("FCM_PROJECT_ID"):
            options["project_id"] = env["FCM_PROJECT_ID"]
        if env.get("FCM_URL"):
            options["fcm_url"] = env["FCM_URL"]
        config["fcm"] = {"BACKEND": FCM, "OPTIONS": options}
    return config
