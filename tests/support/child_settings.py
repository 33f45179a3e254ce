"""Settings of every Django child process a test starts.

Workers, sweepers, relays, producers and ``manage.py check`` runs use the test
suite's settings, pointed at the database of the test that started them and
adjusted by ``CHILD_*`` variables (``tests.support.children.child_env`` writes
them; nothing else should need to):

``CHILD_DB_NAME``
    the running test's database: the name pytest-django created, or the
    SQLite file (required);
``CHILD_DATABASE``
    a JSON object merged into ``DATABASES["default"]``, e.g.
    ``{"CONN_MAX_AGE": null}``;
``CHILD_APP_NAME``
    on PostgreSQL the connection's ``application_name``, so that a test can
    find this child's backend in ``pg_stat_activity``;
``CHILD_SWEEP_INTERVAL``
    ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` (and the beat interval of
    ``tests.support.celery_app``);
``CHILD_LOG_LEVEL``
    if set, the library's log records go to stderr from this level on (the
    suite's own settings drop them);
``CHILD_SETTINGS``
    a JSON object of any other settings (scheduler, notifiers, ``HUEY``, bad
    values for the checks...), applied last.

``CHILD_BROKER_URL`` and ``CHILD_QUEUE`` are read by the Celery app, not here.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

_database: dict[str, Any] = DATABASES["default"]
_database["NAME"] = os.environ["CHILD_DB_NAME"]
_database.update(json.loads(os.environ.get("CHILD_DATABASE", "{}")))
if _database["ENGINE"].endswith("postgresql"):
    _database.setdefault("OPTIONS", {})["application_name"] = os.environ.get(
        "CHILD_APP_NAME", "test-child"
    )

if "CHILD_SWEEP_INTERVAL" in os.environ:
    ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = float(os.environ["CHILD_SWEEP_INTERVAL"])

if "CHILD_LOG_LEVEL" in os.environ:
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "loggers": {
            "django_assignment_timeout": {
                "handlers": ["console"],
                "level": os.environ["CHILD_LOG_LEVEL"],
            }
        },
    }

_extra = json.loads(os.environ.get("CHILD_SETTINGS", "{}"))
if "HUEY" in _extra:
    # djhuey reads HUEY once, at import: the app is only installed with it.
    INSTALLED_APPS = [*INSTALLED_APPS, "huey.contrib.djhuey"]
globals().update(_extra)
