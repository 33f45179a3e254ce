"""Celery apps for the scheduler tests: the worker's, and the producers' in pytest.

The worker runs ``celery -A tests.schedulers_support.celery_app:app worker
--beat`` with the broker and queue from the environment. Creating an app
connects to nothing, so the pytest process can import this module freely.
"""

from __future__ import annotations

import os

from celery import Celery

from django_assignment_timeout.schedulers.celery import beat_schedule

os.environ.setdefault(
    "DJANGO_SETTINGS_MODULE", "tests.schedulers_support.worker_settings"
)

REDIS_URL = "redis://127.0.0.1:6379/1"  # this engineer's Redis database
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def make_app(broker_url: str, queue: str = "sched-default") -> Celery:
    """A Celery app on ``broker_url`` whose tasks go to ``queue`` by default."""
    app = Celery("assignment_timeout_tests", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        task_default_queue=queue,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        worker_hijack_root_logger=False,
        # No pidbox queue: on a shared broker another worker's exclusive
        # "celery@host.celery.pidbox" would stop ours (RESOURCE_LOCKED).
        worker_enable_remote_control=False,
        timezone="UTC",
    )
    return app


#: The worker's app: broker, queue and sweep interval from the environment.
app = make_app(
    os.environ.get("SCHED_BROKER_URL", REDIS_URL),
    os.environ.get("SCHED_QUEUE", "sched-default"),
)
app.conf.beat_schedule.update(
    beat_schedule(float(os.environ.get("SCHED_SWEEP_INTERVAL", "60")))
)

#: Producer apps used by the pytest process (OPTIONS["app"] points at them).
redis_app = make_app(REDIS_URL)
rabbitmq_app = make_app(RABBITMQ_URL)
eager_app = make_app("memory://")
eager_app.conf.task_always_eager = True
#: Nothing listens on port 1: every publish fails at once.
down_app = make_app("redis://127.0.0.1:1/1")
