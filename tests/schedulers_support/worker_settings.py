"""Settings for worker and producer subprocesses of the scheduler tests.

They share the test database of the pytest process that started them
(``SCHED_DB_NAME``: the name pytest-django created, or the SQLite file) and
take the scheduler, Huey and Celery configuration from the environment.
"""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

DATABASES["default"]["NAME"] = os.environ["SCHED_DB_NAME"]

if "SCHED_SCHEDULER" in os.environ:
    ASSIGNMENT_TIMEOUT_SCHEDULER = json.loads(os.environ["SCHED_SCHEDULER"])

if "SCHED_SWEEP_INTERVAL" in os.environ:
    ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = float(os.environ["SCHED_SWEEP_INTERVAL"])

if "SCHED_HUEY" in os.environ:
    HUEY = json.loads(os.environ["SCHED_HUEY"])
    INSTALLED_APPS = [*INSTALLED_APPS, "huey.contrib.djhuey"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_assignment_timeout": {"handlers": ["console"], "level": "INFO"}
    },
}
