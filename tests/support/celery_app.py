"""The Celery apps of the tests: the workers' app, and producers for pytest.

A worker runs ``celery -A tests.support.celery_app:app worker --beat`` with
its broker, queue and beat interval from the environment (``CHILD_BROKER_URL``,
``CHILD_QUEUE``, ``CHILD_SWEEP_INTERVAL``; see ``child_settings``), and
imports the modules named in ``CHILD_IMPORTS`` (comma-separated: a test's
signal receivers) as it starts. Celery's Django fixup sets Django up from
``DJANGO_SETTINGS_MODULE`` when the worker starts, before those imports. Creating an app connects to nothing, so the pytest process imports
this module freely and publishes with the producer apps.
"""

from __future__ import annotations

import os

from celery import Celery

from django_assignment_timeout.schedulers.celery import beat_schedule

REDIS_URL = "redis://127.0.0.1:6379/1"  # this engineer's Redis database
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def make_app(
    broker_url: str, queue: str = "sched-default", *, reconnect_forever: bool = False
) -> Celery:
    """An app on ``broker_url`` whose tasks go to ``queue`` by default.

    ``reconnect_forever``: keep reconnecting to a lost broker however long it
    takes (a test that kills its broker restarts it), not give up after
    Celery's 100 retries.
    """
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
    if reconnect_forever:
        app.conf.broker_connection_max_retries = None
    return app


#: The workers' app: broker, queue and sweep interval from the environment.
app = make_app(
    os.environ.get("CHILD_BROKER_URL", REDIS_URL),
    os.environ.get("CHILD_QUEUE", "sched-default"),
    reconnect_forever=True,
)
app.conf.beat_schedule.update(
    beat_schedule(float(os.environ.get("CHILD_SWEEP_INTERVAL", "60")))
)
app.conf.imports = tuple(filter(None, os.environ.get("CHILD_IMPORTS", "").split(",")))

#: Producer apps of the pytest process (a scheduler's OPTIONS["app"] names them).
redis_app = make_app(REDIS_URL)
rabbitmq_app = make_app(RABBITMQ_URL)
eager_app = make_app("memory://")
eager_app.conf.task_always_eager = True
#: Nothing listens on port 1: every publish fails at once.
down_app = make_app("redis://127.0.0.1:1/1")
