"""Which tasks framework this Django has: ``django.tasks`` (6.0+) or the backport.

Imported by the tasks scheduler and its tasks alike; a missing backport is a
:class:`~django_assignment_timeout.exceptions.MissingExtraError` naming the
``tasks`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from django_assignment_timeout.exceptions import MissingExtraError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["framework"]


def _framework() -> ModuleType:
    # Django 6.0+ ships the framework; 5.2 needs the django-tasks backport.
    try:
        return importlib.import_module("django.tasks")
    except ImportError:
        pass
    try:
        return importlib.import_module("django_tasks")
    except ImportError as err:
        raise MissingExtraError(
            "ASSIGNMENT_TIMEOUT_SCHEDULER", "tasks", "django-tasks"
        ) from err


#: ``django.tasks`` or ``django_tasks``, whichever this Django uses.
framework = _framework()
