"""The scheduler for Django's tasks framework (``django.tasks`` or ``django-tasks``).

Settings::

    TASKS = {"default": {"BACKEND": "..."}}  # a backend with a worker
    ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": "django_assignment_timeout.schedulers.tasks.TasksScheduler",
        "OPTIONS": {"backend": "default", "queue_name": "default"},
    }

The framework has no periodic tasks: run the sweep with
``manage.py expire_assignments`` from cron or a systemd timer, or
``expire_assignments --loop`` (that is this backend's one periodic entry).
Each offer's expiry is deferred to its deadline with ``run_after`` where the
task backend ``supports_defer``. Where it does not (``ImmediateBackend``
rejects ``run_after``), no per-offer task is enqueued and the sweep expires
the offer; check W025 says so.

OPTIONS: ``backend`` (a ``TASKS`` alias, default ``"default"``),
``queue_name``, ``precise`` and ``deliver`` (both default True).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.checks import Error, Warning

from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.schedulers.base import BaseScheduler
from django_assignment_timeout.schedulers.protocol import task_pk
from django_assignment_timeout.schedulers.tasks.framework import framework

if TYPE_CHECKING:
    from datetime import datetime

    from django.core.checks import CheckMessage
    from django.db import models

__all__ = ["TasksScheduler"]


class TasksScheduler(BaseScheduler):
    """Per-offer expiry and delivery as Django tasks; the command sweeps."""

    supports_periodic_sweep = False
    supports_precise_expiry = True
    supports_deferred_delivery = True
    known_options = frozenset({"backend", "queue_name", "precise", "deliver"})

    @property
    def task_alias(self) -> str:
        """The ``TASKS`` alias tasks are enqueued on."""
        return self.options.get("backend", "default")  # type: ignore[no-any-return]

    def task_backend(self) -> Any:
        """The framework's backend for :attr:`task_alias` (ConfigurationError if unknown)."""
        try:
            return framework.task_backends[self.task_alias]
        except Exception as err:  # InvalidTaskBackendError, whichever framework
            raise ConfigurationError(
                "ASSIGNMENT_TIMEOUT_SCHEDULER['OPTIONS']['backend'] is "
                f"{self.task_alias!r}, "
                f"which is not a usable TASKS backend: {err}"
            ) from err

    @property
    def defers(self) -> bool:
        """Whether per-offer expiry can be deferred to the deadline on this backend."""
        return bool(self.task_backend().supports_defer)

    def ready(self) -> None:
        """Nothing to register: tasks are found by their module path."""

    def check(self) -> list[CheckMessage]:
        """Unknown options (E021), unknown alias (E024), no deferral (W025)."""
        errors = super().check()
        try:
            backend = self.task_backend()
        except ConfigurationError as err:
            errors.append(
                Error(
                    str(err),
                    hint="Use an alias defined in the TASKS setting.",
                    id="assignment_timeout.E024",
                )
            )
            return errors
        if self.options.get("precise", True) and not backend.supports_defer:
            errors.append(
                Warning(
                    f"The TASKS backend {self.task_alias!r} ({type(backend).__name__}) "
                    "can not defer tasks, so offers are expired only by the sweep.",
                    hint="Run 'manage.py expire_assignments' from cron or with "
                    "--loop, or use a task backend that supports run_after.",
                    id="assignment_timeout.W025",
                )
            )
        return errors

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Enqueue ``expire_offer`` to run at the deadline, or leave it to the sweep."""
        if not self.options.get("precise", True) or not self.defers:
            return  # the sweep expires it (check W025)
        self._task("expire_offer", run_after=deadline).enqueue(
            model._meta.label, task_pk(pk), attempt
        )

    def schedule_delivery(self) -> None:
        """Enqueue ``deliver`` (an ImmediateBackend runs it at once, after commit)."""
        if self.options.get("deliver", True):
            self._task("deliver").enqueue()

    def _task(self, name: str, **using: Any) -> Any:
        # Not at module level: declaring a task validates it against the
        # TASKS setting, which must be readable by then.
        from django_assignment_timeout.schedulers.tasks import tasks

        # Always name the queue: the declared one may be another backend's.
        using["queue_name"] = self.options.get("queue_name", "default")
        return getattr(tasks, name).using(backend=self.task_alias, **using)
