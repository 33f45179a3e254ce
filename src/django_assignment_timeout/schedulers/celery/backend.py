"""The Celery scheduler: a beat sweep plus a precise ETA task per offer.

Settings::

    ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": "django_assignment_timeout.schedulers.celery.CeleryScheduler",
        "OPTIONS": {"queue": "assignments"},  # every option is optional
    }

and one line in the project's ``celery.py``::

    from django_assignment_timeout.schedulers.celery import beat_schedule
    app.conf.beat_schedule.update(beat_schedule())

Task names are stable: ``assignment_timeout.sweep``,
``assignment_timeout.expire_offer`` and ``assignment_timeout.deliver``.

OPTIONS:

* ``app``: dotted path to the Celery app to send with. Default: the
  project's app, found as Celery users expect, i.e. Celery's current app once
  the project package imports its ``celery.py`` (``from .celery import app as
  celery_app``, the standard layout). Never Celery's fallback default app:
  with neither, check E026 names what to set and nothing is sent.
* ``queue``, ``routing_key``, ``exchange``, ``priority``: routing for every
  task this backend sends (and for the beat entry from :func:`beat_schedule`).
* ``retry``, ``retry_policy``: Celery's publish retry options; lower them so
  an offer made while the broker is down does not wait for retries.
* ``precise`` (default True): send one ETA task per offer, at its deadline.
* ``deliver`` (default True): send a delivery task after events are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.checks import Error
from django.utils.module_loading import import_string

from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.exceptions import ConfigurationError, MissingExtraError
from django_assignment_timeout.schedulers.base import BaseScheduler
from django_assignment_timeout.schedulers.protocol import (
    DELIVER,
    EXPIRE_OFFER,
    PERIODIC_NAME,
    SWEEP,
    task_pk,
)

try:
    import celery
    from celery import _state
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("ASSIGNMENT_TIMEOUT_SCHEDULER", "celery", "celery") from err

if TYPE_CHECKING:
    from datetime import datetime

    from django.core.checks import CheckMessage
    from django.db import models

__all__ = ["ROUTING_OPTIONS", "CeleryScheduler", "beat_schedule", "project_app"]

#: apply_async options a project may set in OPTIONS.
ROUTING_OPTIONS = (
    "queue",
    "routing_key",
    "exchange",
    "priority",
    "retry",
    "retry_policy",
)


#: What to set when the scheduler finds no Celery app of the project (E026).
_NO_APP_HINT = (
    "Import your Celery app in your project package's __init__.py, as Celery's "
    "Django instructions do (from .celery import app as celery_app), or set "
    "ASSIGNMENT_TIMEOUT_SCHEDULER['OPTIONS']['app'] to its dotted path, e.g. "
    "'backend.celery.app'."
)


def _is_fallback(app: celery.Celery) -> bool:
    """Whether ``app`` is the app Celery makes up when a process created none.

    Celery builds it as ``Celery("default", fixups=[], set_as_current=False)``:
    configured by nothing of the project, it publishes to
    ``amqp://guest@localhost//``.
    """
    return app.main == "default" and not app.fixups and not app.set_as_current


def project_app() -> celery.Celery | None:
    """The project's Celery app as Celery users expect to find it, or None.

    That is Celery's current app (the one this thread made current, else the
    default one, which Celery's Django fixup sets to the first app created in
    a Django process) unless it is Celery's fallback app. Read from Celery's
    state without touching ``celery.current_app``, which would create the
    fallback and make it the default for every thread, so that an app the
    project creates later would never become the default.
    """
    app = getattr(_state._tls, "current_app", None) or _state.default_app
    return None if app is None or _is_fallback(app) else app


def beat_schedule(
    interval: float | None = None, *, queue: str | None = None
) -> dict[str, dict[str, Any]]:
    """The one beat entry, ``{"assignment-timeout-sweep": {...}}``.

    ``interval`` defaults to ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL`` seconds (an
    interval, never a crontab). The entry's messages expire after one
    interval, so a beat that kept sending while every worker was down does
    not leave a pile of sweeps behind: the next one does all the work.
    """
    seconds = sweep_interval() if interval is None else float(interval)
    options: dict[str, Any] = {"expires": seconds}
    if queue is not None:
        options["queue"] = queue
    return {PERIODIC_NAME: {"task": SWEEP, "schedule": seconds, "options": options}}


class CeleryScheduler(BaseScheduler):
    """Celery beat runs the sweep; each offer gets an ETA task at its deadline."""

    supports_periodic_sweep = True
    supports_precise_expiry = True
    supports_deferred_delivery = True
    known_options = frozenset({"app", "precise", "deliver", *ROUTING_OPTIONS})

    def __init__(self, alias: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(alias, options)
        self._app: celery.Celery | None = None

    @property
    def app(self) -> celery.Celery:
        """The Celery app tasks are sent with: ``OPTIONS["app"]``, else :func:`project_app`.

        Raises :class:`~django_assignment_timeout.exceptions.ConfigurationError`
        when there is neither, rather than publish through Celery's fallback
        app to a broker no worker of the project reads.
        """
        if self._app is None:
            path = self.options.get("app")
            if path:
                self._app = import_string(path)
            else:
                found = project_app()
                if found is None:
                    raise ConfigurationError(
                        "The Celery scheduler found no Celery app of the project "
                        f"(check E026). {_NO_APP_HINT}"
                    )
                self._app = found
        return self._app

    def ready(self) -> None:
        """Register the shared tasks (workers run this through ``django.setup()``)."""
        # Not at module level: the tasks import the core and so the models,
        # and a project's celery.py imports this module before apps are ready.
        from django_assignment_timeout.schedulers.celery import tasks  # noqa: F401

    def check(self) -> list[CheckMessage]:
        """Unknown options (E021); a bad ``app`` path (E023); no project app (E026)."""
        errors = super().check()
        path = self.options.get("app")
        if path is None:
            errors.extend(self._check_project_app())
        else:
            try:
                app = import_string(path)
            except ImportError as err:
                app, problem = None, f"can not be imported: {err}"
            else:
                problem = "is not a Celery app"
            if not isinstance(app, celery.Celery):
                errors.append(
                    Error(
                        f"ASSIGNMENT_TIMEOUT_SCHEDULER['OPTIONS']['app'] = "
                        f"{path!r} {problem}.",
                        hint="Point it at your Celery() instance, e.g. "
                        "'backend.celery.app', or leave it out to use Celery's "
                        "current app.",
                        id="assignment_timeout.E023",
                    )
                )
        return errors

    def _check_project_app(self) -> list[CheckMessage]:
        sends = self.options.get("precise", True) or self.options.get("deliver", True)
        if not sends or project_app() is not None:
            return []
        return [
            Error(
                "The Celery scheduler would publish through Celery's default app "
                "(broker amqp://guest@localhost//), not the app your workers run: "
                "OPTIONS['app'] is not set and no Celery app of the project was "
                "created in this process.",
                hint=_NO_APP_HINT,
                id="assignment_timeout.E026",
            )
        ]

    def schedule_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Send ``expire_offer`` with ``eta=deadline``.

        In eager mode it runs at once and, the offer not being due, does nothing.
        """
        if not self.options.get("precise", True):
            return
        args = (model._meta.label, task_pk(pk), attempt)
        self._send(EXPIRE_OFFER, args, eta=deadline)

    def schedule_delivery(self) -> None:
        """Send the ``deliver`` task."""
        if self.options.get("deliver", True):
            self._send(DELIVER, ())

    def _send(self, name: str, args: tuple[Any, ...], **extra: Any) -> None:
        self.ready()
        routing = {k: self.options[k] for k in ROUTING_OPTIONS if k in self.options}
        # apply_async (not send_task) so that task_always_eager is honoured.
        self.app.tasks[name].apply_async(args, **routing, **extra)
