"""The scheduler for Django's tasks framework (``django.tasks`` or ``django-tasks``).

:mod:`.backend` holds :class:`TasksScheduler`; :mod:`.tasks` the framework's
tasks it enqueues, declared on first use.
"""

from __future__ import annotations

from django_assignment_timeout.schedulers.tasks.backend import TasksScheduler
from django_assignment_timeout.schedulers.tasks.framework import framework

__all__ = ["TasksScheduler", "framework"]
