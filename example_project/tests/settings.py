"""Settings for the example's tests: the project's own, with a test database.

``TEST_DATABASE`` (sqlite, postgresql, mysql) and ``TEST_DB_NAME`` select the
database as in the library's suite. The SQLite test database is a file so
that the worker and server subprocesses of the end-to-end tests share it.
"""

from __future__ import annotations

import os

from backend.settings import *  # noqa: F403

_vendor = os.environ.get("TEST_DATABASE", "sqlite")
_name = f"{os.environ.get('TEST_DB_NAME', 'assignment_timeout')}_example"

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
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            "TEST": {"NAME": f"/tmp/test_{_name}.sqlite3"},
        }
    }

# Tests assert what would be sent, through the library's in-memory notifier.
ASSIGNMENT_TIMEOUT_NOTIFIERS = {
    "default": {"BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"}
}
ASSIGNMENT_TIMEOUT_SCHEDULER = {
    "BACKEND": "django_assignment_timeout.schedulers.command.CommandScheduler"
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

# pytest-django runs with DEBUG off and nothing is collected: look files up on
# each request as under DEBUG (a deployment's test collects into a tmp dir).
WHITENOISE_AUTOREFRESH = True
