"""The Django, Celery and Python objects these pages link to, for offline builds.

``conf.py`` writes each list as an intersphinx inventory, so ``-W`` builds
without the network still resolve ``:setting:`django:USE_TZ``` and friends to
their real URLs. Add a line here when a page links to something new; an
unresolvable reference shows up as plain text, and the docs test
(``tests/test_docs_build.py``) fails on it.

Each entry: (name, domain:role, URI relative to the project's base URL,
display text or ``-`` for the name itself).
"""

from __future__ import annotations

_DJ_SETTINGS = "ref/settings/#std-setting-"

TARGETS: dict[str, list[tuple[str, str, str, str]]] = {
    "django": [
        *(
            (name, "std:setting", _DJ_SETTINGS + name, "-")
            for name in (
                "USE_TZ",
                "INSTALLED_APPS",
                "CACHES",
                "TASKS",
                "DATABASES",
                "SILENCED_SYSTEM_CHECKS",
            )
        ),
        ("django.db.models.Model", "py:class", "ref/models/instances/#$", "-"),
        (
            "django.db.models.query.QuerySet",
            "py:class",
            "ref/models/querysets/#$",
            "-",
        ),
        (
            "django.db.models.query.QuerySet.select_for_update",
            "py:method",
            "ref/models/querysets/#$",
            "-",
        ),
        (
            "django.db.models.functions.Now",
            "py:class",
            "ref/models/database-functions/#$",
            "-",
        ),
        (
            "django.core.exceptions.ImproperlyConfigured",
            "py:exception",
            "ref/exceptions/#$",
            "-",
        ),
        (
            "django.core.exceptions.ObjectDoesNotExist",
            "py:exception",
            "ref/exceptions/#$",
            "-",
        ),
        ("django.dispatch.Signal", "py:class", "topics/signals/#$", "-"),
        (
            "django.db.transaction.on_commit",
            "py:function",
            "topics/db/transactions/#$",
            "-",
        ),
        (
            "django.test.override_settings",
            "py:function",
            "topics/testing/tools/#$",
            "-",
        ),
        ("django.contrib.admin.ModelAdmin", "py:class", "ref/contrib/admin/#$", "-"),
        ("topics/checks", "std:doc", "topics/checks/", "System check framework"),
        ("topics/tasks", "std:doc", "topics/tasks/", "Django's Tasks framework"),
        ("topics/testing/index", "std:doc", "topics/testing/", "Testing in Django"),
        (
            "ref/django-admin",
            "std:doc",
            "ref/django-admin/",
            "django-admin and manage.py",
        ),
    ],
    "celery": [
        (
            "userguide/periodic-tasks",
            "std:doc",
            "userguide/periodic-tasks.html",
            "Periodic Tasks",
        ),
        ("userguide/routing", "std:doc", "userguide/routing.html", "Routing Tasks"),
        ("userguide/calling", "std:doc", "userguide/calling.html", "Calling Tasks"),
        ("userguide/workers", "std:doc", "userguide/workers.html", "Workers Guide"),
        (
            "django/first-steps-with-django",
            "std:doc",
            "django/first-steps-with-django.html",
            "First steps with Django",
        ),
        (
            "celery.app.task.Task.apply_async",
            "py:method",
            "reference/celery.app.task.html#$",
            "-",
        ),
        ("celery.shared_task", "py:function", "reference/celery.html#$", "-"),
        (
            "beat_schedule",
            "std:setting",
            "userguide/configuration.html#std-setting-beat_schedule",
            "-",
        ),
    ],
    "python": [
        ("datetime.datetime", "py:class", "library/datetime.html#$", "-"),
        ("datetime.timedelta", "py:class", "library/datetime.html#$", "-"),
        ("logging", "py:module", "library/logging.html#module-logging", "-"),
    ],
}
