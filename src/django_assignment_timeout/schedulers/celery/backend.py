"""The Celery scheduler: a beat sweep plus a precise ETA task per offer.

Settings::

    ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": "django_assignment_timeout.schedulers.celery.CeleryScheduler",
        "OPTIONS": {"queue": "assignments"},  # every option is optional
    }

and one line in the project's ``celery.py``::

    from django_assignment_timeout.schedulers.celery import beat_schedule
    app.conf.beat_schedule.update(beat_schedule())

Task names are stable: ``assignment_timeout.sweep``, ``assignment_timeout.arm``,
``assignment_timeout.expire_offer`` and ``assignment_timeout.deliver``.

OPTIONS:

* ``app``: dotted path to the Celery app to send with. Default: the
  project's app, found as Celery users expect, i.e. Celery's current app once
  the project package imports its ``celery.py`` (``from .celery import app as
  celery_app``, the standard layout). Never Celery's fallback default app:
  with neither, check E026 names what to set and nothing is sent.
* ``queue``, ``routing_key``, ``exchange``, ``priority``: routing for every
  task this backend sends (and for the beat entries from :func:`beat_schedule`).
* ``retry``, ``retry_policy``: Celery's publish retry options; lower them so
  an offer made while the broker is down does not wait for retries.
* ``precise`` (default True): send one ETA task per offer, at its deadline.
* ``eta_horizon`` (default 900 seconds): send that ETA task only for a
  deadline at most this far ahead; the beat's arm entry arms later ones when
  they come within range. Must stay below the broker's redelivery window,
  Redis' or SQS' ``visibility_timeout`` (check E046). ``None``: no horizon.
* ``arm_interval`` (default 5 seconds): how often that arm entry runs, each
  time for the deadlines of the last few seconds. Positive (check E047), its
  window of 1.5 intervals inside the horizon (check E048).
* ``deliver`` (default True): send a delivery task after events are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.checks import Error
from django.utils.module_loading import import_string

from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.exceptions import ConfigurationError, MissingExtraError
from django_assignment_timeout.schedulers.base import BaseScheduler
from django_assignment_timeout.schedulers.horizon import (
    ARM_INTERVAL_OPTION,
    HORIZON_OPTION,
    EtaHorizon,
    arm_interval_of,
    check_arm_interval,
    check_horizon,
    configured_arm_interval,
    horizon_of,
    task_expires,
)
from django_assignment_timeout.schedulers.protocol import (
    ARM,
    ARM_PERIODIC_NAME,
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

__all__ = [
    "ROUTING_OPTIONS",
    "VISIBILITY_TIMEOUTS",
    "CeleryScheduler",
    "beat_schedule",
    "project_app",
    "visibility_timeout",
]

#: apply_async options a project may set in OPTIONS.
ROUTING_OPTIONS = (
    "queue",
    "routing_key",
    "exchange",
    "priority",
    "retry",
    "retry_policy",
)

#: Transports that redeliver a message left unacknowledged for longer than
#: ``visibility_timeout``, with kombu's default for it (kombu 5.x).
VISIBILITY_TIMEOUTS = {
    "redis": 3600.0,
    "rediss": 3600.0,
    "sentinel": 3600.0,
    "sqs": 1800.0,
}


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


def visibility_timeout(app: celery.Celery) -> tuple[str, float] | None:
    """``(transport, seconds)`` after which ``app``'s broker redelivers an unacked task.

    None for a broker without such a window (RabbitMQ). Read from the app's
    configuration (``broker_transport`` or the broker URL's scheme, and
    ``broker_transport_options["visibility_timeout"]``) without connecting,
    nor importing the transport (SQS' needs boto3).
    """
    conf = app.conf
    url: Any = conf.broker_write_url or conf.broker_url or ""
    if isinstance(url, (list, tuple)):  # failover URLs: the first is used first
        url = url[0] if url else ""
    scheme = conf.broker_transport or str(url).split(";", 1)[0].split("://", 1)[0]
    transport = str(scheme).split("+", 1)[0].lower()
    if transport not in VISIBILITY_TIMEOUTS:
        return None
    configured: Any = (conf.broker_transport_options or {}).get("visibility_timeout")
    try:
        seconds = float(configured)
    except (TypeError, ValueError):
        seconds = VISIBILITY_TIMEOUTS[transport]
    return transport, seconds


def beat_schedule(
    interval: float | None = None,
    *,
    queue: str | None = None,
    arm_interval: float | None = None,
) -> dict[str, dict[str, Any]]:
    """The two beat entries, ``"assignment-timeout-sweep"`` and ``"assignment-timeout-arm"``.

    The sweep runs every ``interval`` seconds (default
    ``ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL``; an interval, never a crontab). The
    arm task runs every ``arm_interval`` seconds (default the scheduler's
    ``arm_interval`` option, 5): it sends the ETA tasks of deadlines that came
    within the horizon since its last run, a few at a time, and the sweep
    entry asks the sweep not to arm as well. Each entry's messages expire
    after one of its intervals, so a beat that kept sending while every
    worker was down does not leave a pile of them behind: the next one does
    all the work.
    """
    seconds = sweep_interval() if interval is None else float(interval)
    if arm_interval is None:
        arm_seconds = configured_arm_interval()
    else:  # the option's rule, so a bad value is a ConfigurationError too
        arm_seconds = arm_interval_of({ARM_INTERVAL_OPTION: arm_interval})
    routing = {} if queue is None else {"queue": queue}
    return {
        PERIODIC_NAME: {
            "task": SWEEP,
            "schedule": seconds,
            "kwargs": {"interval": seconds, "arm": False},
            "options": {"expires": seconds, **routing},
        },
        # Its interval sizes the window each run arms.
        ARM_PERIODIC_NAME: {
            "task": ARM,
            "schedule": arm_seconds,
            "kwargs": {"interval": arm_seconds},
            "options": {"expires": arm_seconds, **routing},
        },
    }


class CeleryScheduler(EtaHorizon, BaseScheduler):
    """Celery beat runs the sweep; each offer gets an ETA task at its deadline.

    Within the ``eta_horizon`` only: a later deadline gets its task from the
    beat sweep when it comes within range (:class:`.EtaHorizon`).
    """

    supports_periodic_sweep = True
    supports_precise_expiry = True
    supports_deferred_delivery = True
    known_options = frozenset(
        {
            "app",
            "precise",
            "deliver",
            HORIZON_OPTION,
            ARM_INTERVAL_OPTION,
            *ROUTING_OPTIONS,
        }
    )

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
        """Unknown options (E021); bad ``app`` (E023), none (E026); the horizon
        (E045, E046); ``arm_interval`` (E047, E048)."""
        errors = super().check()
        bad_horizon = check_horizon(self.options, self.default_eta_horizon)
        errors.extend(bad_horizon)
        if not bad_horizon:
            horizon = self.eta_horizon if self.precise else None
            errors.extend(check_arm_interval(self.options, horizon))
        path = self.options.get("app")
        if path is None:
            errors.extend(self._check_project_app())
            app = project_app()
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
        if isinstance(app, celery.Celery) and not bad_horizon:
            errors.extend(self._check_visibility(app))
        return errors

    def _check_visibility(self, app: celery.Celery) -> list[CheckMessage]:
        """E046: ETA tasks held past the broker's redelivery window run twice."""
        window = visibility_timeout(app)
        if window is None or not self.precise:
            return []
        transport, seconds = window
        horizon = horizon_of(self.options, self.default_eta_horizon)
        if horizon is not None and horizon < seconds:
            return []
        shown = "None (no horizon)" if horizon is None else f"{horizon:g} seconds"
        return [
            Error(
                f"The Celery scheduler's eta_horizon is {shown}, not less than the "
                f"{transport} broker's visibility_timeout ({seconds:g} seconds): "
                "an ETA task held that long unacknowledged is delivered again, "
                "to another worker, and again after that.",
                hint=f"Set ASSIGNMENT_TIMEOUT_SCHEDULER['OPTIONS']['{HORIZON_OPTION}'] "
                "well below it (the default is 900), or raise "
                "broker_transport_options['visibility_timeout'].",
                id="assignment_timeout.E046",
            )
        ]

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

    def send_expiry(
        self, model: type[models.Model], pk: Any, attempt: int, deadline: datetime
    ) -> None:
        """Send ``expire_offer`` with ``eta=deadline`` and ``expires`` after it.

        In eager mode it runs at once and, the offer not being due, does nothing.
        """
        args = (model._meta.label, task_pk(pk), attempt)
        self._send(EXPIRE_OFFER, args, eta=deadline, expires=task_expires(deadline))

    def schedule_delivery(self) -> None:
        """Send the ``deliver`` task."""
        if self.options.get("deliver", True):
            self._send(DELIVER, ())

    def _send(self, name: str, args: tuple[Any, ...], **extra: Any) -> None:
        self.ready()
        routing = {k: self.options[k] for k in ROUTING_OPTIONS if k in self.options}
        # apply_async (not send_task) so that task_always_eager is honoured.
        self.app.tasks[name].apply_async(args, **routing, **extra)
