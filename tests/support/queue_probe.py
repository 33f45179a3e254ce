"""On which queue are the library's tasks declared, on a queue-only backend?

    python -m tests.support.queue_probe <dummy backend> <scheduler backend>

Configures a tasks-framework backend whose ``QUEUES`` lacks ``"default"``
and a scheduler with ``OPTIONS["queue_name"] = "assignments"``, imports the
task declarations (they are made at import, hence a fresh interpreter) and
prints the queues of ``sweep`` and ``expire_offer``.
"""

from __future__ import annotations

import sys


def main(dummy: str, scheduler: str) -> str:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django_assignment_timeout"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        TASKS={"default": {"BACKEND": dummy, "QUEUES": ["assignments"]}},
        ASSIGNMENT_TIMEOUT_SCHEDULER={
            "BACKEND": scheduler,
            "OPTIONS": {"queue_name": "assignments"},
        },
    )
    django.setup()
    from django_assignment_timeout.schedulers.tasks import tasks as tasks_framework

    return (
        f"{tasks_framework.sweep.queue_name} {tasks_framework.expire_offer.queue_name}"
    )


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]), flush=True)
