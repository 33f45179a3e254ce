"""Which Celery app does the scheduler send with, in a process that made none?

    python -m tests.support.celery_app_probe

A fresh interpreter (the test process has created Celery apps, and Celery's
current app can not be unset): configures Django with no Celery app, reads
the scheduler's checks and app, then creates the project's app the way a
project's ``celery.py`` does and reads them again. Prints one JSON line.
"""

from __future__ import annotations

import json
from typing import Any


def _ids(scheduler: Any) -> list[str]:
    return [message.id for message in scheduler.check()]


def main() -> dict[str, Any]:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django_assignment_timeout"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
    )
    django.setup()
    import celery

    from django_assignment_timeout.exceptions import ConfigurationError
    from django_assignment_timeout.schedulers.celery import (
        CeleryScheduler,
        project_app,
    )

    sending = CeleryScheduler("default", {})
    silent = CeleryScheduler("default", {"precise": False, "deliver": False})
    found: dict[str, Any] = {
        "project_app": project_app() is not None,
        "sending_checks": _ids(sending),
        "silent_checks": _ids(silent),
    }
    try:
        app = sending.app
    except ConfigurationError as err:
        found["app_error"] = str(err)
    else:  # the test fails on this: an app was found
        found["app_error"] = None
        found["app"] = app.main

    project = celery.Celery("project")  # as a project's celery.py makes it
    later = CeleryScheduler("default", {})
    found["after_checks"] = _ids(later)
    found["after_app_is_project"] = later.app is project
    return found


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
