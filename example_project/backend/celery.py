"""The Celery app: ``celery -A backend worker|beat|inspect ...`` finds it here."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("backend")
# Every CELERY_* Django setting configures Celery (CELERY_BROKER_URL -> broker_url).
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds logistics/tasks.py (and the library's tasks module when it has one).
app.autodiscover_tasks()
