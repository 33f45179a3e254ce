"""Deprecated: the Celery tasks moved to ``django_assignment_timeout.schedulers.celery.tasks``.

Kept so that ``CELERY_IMPORTS`` naming this module still registers the
tasks (their names, ``assignment_timeout.*``, did not change).
"""

from __future__ import annotations

import warnings

from django_assignment_timeout.schedulers.celery.tasks import (  # noqa: F401
    deliver,
    expire_offer,
    sweep,
)

warnings.warn(
    "django_assignment_timeout.schedulers.celery_tasks moved to "
    "django_assignment_timeout.schedulers.celery.tasks; the old path will be "
    "removed in version 1.0.",
    DeprecationWarning,
    stacklevel=2,
)
