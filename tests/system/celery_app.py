"""The Celery app of the system tests' workers, on the test's own Redis.

``SYSTEM_BROKER_URL`` names a redis-server the test started (and kills);
``SYSTEM_SWEEP_INTERVAL`` the beat interval. Django is set up by Celery's
Django fixup from ``DJANGO_SETTINGS_MODULE`` when the worker starts.
"""

from __future__ import annotations

import os

from celery import Celery

from django_assignment_timeout.schedulers.celery import beat_schedule


def make_app(broker_url: str) -> Celery:
    """A Celery app that keeps reconnecting to ``broker_url`` however long it takes."""
    app = Celery("assignment_timeout_system", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        task_default_queue="system",
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=2,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=4,
        timezone="UTC",
    )
    return app


app = make_app(os.environ.get("SYSTEM_BROKER_URL", "redis://127.0.0.1:6390/0"))
app.conf.beat_schedule.update(
    beat_schedule(float(os.environ.get("SYSTEM_SWEEP_INTERVAL", "2")))
)
