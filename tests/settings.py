"""Settings for the library's test suite.

SQLite by default. ``DATABASE_URL``-like selection through ``TEST_DATABASE``:
``postgresql`` or ``mysql`` run the same suite against the local servers
(``.ci/run`` does both). ``TEST_DB_NAME`` picks the database name, so that
parallel runs do not share a test database.
"""

from __future__ import annotations

import os

SECRET_KEY = "not-secret-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django_assignment_timeout",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_vendor = os.environ.get("TEST_DATABASE", "sqlite")
_name = os.environ.get("TEST_DB_NAME", "assignment_timeout")

if _vendor == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "NAME": "test",
            "TEST": {"NAME": f"test_{_name}"},
        }
    }
elif _vendor == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "USER": os.environ.get("MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("MYSQL_PASSWORD", ""),
            "NAME": "test",
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": f"test_{_name}", "CHARSET": "utf8mb4"},
        }
    }
elif _vendor == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            # One writer at a time, taken at BEGIN: the portable sweep path
            # relies on SQLite's single writer instead of row locks.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            # A file (not memory) so that threads and subprocesses share it.
            "TEST": {"NAME": f"/tmp/test_{_name}.sqlite3"},
        }
    }
else:  # pragma: no cover - a typo in the environment
    raise RuntimeError(
        f"TEST_DATABASE must be sqlite, postgresql or mysql, not {_vendor!r}"
    )

ASSIGNMENT_TIMEOUT_NOTIFIERS = {
    "default": {"BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"}
}

# A model in the test app reads its timeout from this setting, as GTS does.
DRIVER_ASSIGNMENT_TIMEOUT_SECONDS = 300
# The dispatch model's offers; bench/dispatch.py shortens them.
TESTAPP_JOB_TIMEOUT_SECONDS = 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_assignment_timeout": {"handlers": ["null"], "propagate": True}},
}
