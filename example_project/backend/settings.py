"""Settings of the GTS backend, rebuilt on django-assignment-timeout.

The timeout and Celery blocks are the GTS guide's, verbatim. Everything reads
the environment, after loading a ``.env`` file from this project's directory
(python-dotenv), so ``DRIVER_ASSIGNMENT_TIMEOUT_SECONDS=600`` in ``.env``
works as the guide says. Variables already in the environment win over
``.env``.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

from backend import assignment, database

BASE_DIR = Path(__file__).resolve().parent.parent

# GTS_ENV_FILE points at another file (tests use it); the default is ./.env.
load_dotenv(os.getenv("GTS_ENV_FILE", BASE_DIR / ".env"))

SECRET_KEY = os.getenv("DJANGO_SECRET_KEY", "django-insecure-gts-example-only")
DEBUG = os.getenv("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [
    host.strip()
    for host in os.getenv("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if host.strip()
]
if os.getenv("RENDER_EXTERNAL_HOSTNAME"):
    ALLOWED_HOSTS.append(os.environ["RENDER_EXTERNAL_HOSTNAME"])

INSTALLED_APPS = [
    # daphne first: its runserver serves ASGI, as in production.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI served from our own static files: /api/docs/ works
    # offline and is pinned with the package, never loaded from a CDN.
    "drf_spectacular_sidecar",
    "health_check",  # the HTML page of /health/ (its JSON needs no app)
    "django_assignment_timeout",
    "logistics",
    "dispatch",  # the server-rendered dispatch pages
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS, Swagger UI) from the web process itself:
    # daphne serves none, and neither does a PaaS. Right after security, as
    # WhiteNoise asks, so its responses still get the security headers.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# SQLite next to manage.py unless DATABASE_URL says otherwise (dj-database-url).
DATABASES = {"default": database.config(BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# In development (DEBUG) WhiteNoise serves the apps' static files straight from
# their folders, no collectstatic needed. A deployment runs collectstatic (the
# Render build does) and gets compressed files under hashed names, cached
# forever by browsers.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    # Token first: an anonymous API call gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "logistics.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "GTS logistics API",
    "DESCRIPTION": "Stock requests offered to drivers, with a deadline to accept.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Two serializers show a request's status; name its choices once.
    "ENUM_NAME_OVERRIDES": {
        "StockRequestStatusEnum": "logistics.models.StockRequest.Status"
    },
}

# --- The GTS guide, verbatim -------------------------------------------------

# Driver Assignment Timeout (configurable)
DRIVER_ASSIGNMENT_TIMEOUT_SECONDS = int(
    os.getenv("DRIVER_ASSIGNMENT_TIMEOUT_SECONDS", "300")
)  # 5 minutes

# Celery Configuration
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = os.getenv("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "Asia/Kolkata"

# Periodic Task Schedule
CELERY_BEAT_SCHEDULE = {
    "check-expired-driver-assignments": {
        "task": "logistics.check_expired_driver_assignments",
        "schedule": 60.0,  # Run every 60 seconds
    },
}

# --- Beyond the guide --------------------------------------------------------

# The sweep is a backstop once offers expire precisely (below); a test or a
# demo may run it more often.
if os.getenv("EXPIRY_SWEEP_SECONDS"):
    CELERY_BEAT_SCHEDULE["check-expired-driver-assignments"]["schedule"] = float(
        os.environ["EXPIRY_SWEEP_SECONDS"]
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Lets several copies of the example share one broker (parallel test runs).
CELERY_TASK_DEFAULT_QUEUE = os.getenv("CELERY_TASK_DEFAULT_QUEUE", "celery")

# Celery runs the library's triggers only when a broker was configured; with
# none, the embedded default sweeps with ``manage.py expire_assignments --loop``
# (run_example.py starts it) and needs no server.
USE_CELERY = (
    os.getenv(
        "ASSIGNMENT_SCHEDULER",
        "celery" if os.getenv("CELERY_BROKER_URL") else "command",
    )
    == "celery"
)
ASSIGNMENT_TIMEOUT_SCHEDULER = assignment.scheduler(use_celery=USE_CELERY)
ASSIGNMENT_TIMEOUT_NOTIFIERS = assignment.notifiers(os.environ)
ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL = float(os.getenv("EXPIRY_SWEEP_SECONDS", "60"))
# Prometheus metrics, served at /metrics (the library's "metrics" extra). With
# several processes (daphne, the sweeper, Celery workers) on one host, give
# them all the same PROMETHEUS_MULTIPROC_DIR so their counters add up.
ASSIGNMENT_TIMEOUT_METRICS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "backend.logformat.NotificationFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # The log notifier writes every notification here: the demo prints it.
        # Not propagated: a Celery worker also logs the root logger, twice otherwise.
        "django_assignment_timeout": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
        },
        "logistics": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
