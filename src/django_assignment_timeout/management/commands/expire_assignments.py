"""``manage.py expire_assignments``: one sweep, or a loop of them.

Run it from cron or a systemd timer, or as a long-running process with
``--loop``. It imports no optional integration.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router

# The module, not its functions: looked up at each run, so a test (or a
# project) that replaces sweep.sweep reaches the command too.
from django_assignment_timeout import sweep
from django_assignment_timeout.conf import sweep_interval, wake_probe_interval
from django_assignment_timeout.delivery import deliver_pending, next_attempt
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import AssignmentError, ConfigurationError
from django_assignment_timeout.management.labels import adopting_models
from django_assignment_timeout.management.loop import Pacing, Tick, run_until_stopped
from django_assignment_timeout.options import assignment_models
from django_assignment_timeout.reminders import next_reminder
from django_assignment_timeout.retention import prune_periodically


class Command(BaseCommand):
    help = "Expire every offer whose deadline has passed and deliver pending notifications."

    def add_arguments(self, parser: CommandParser) -> None:
        # A dry run changes nothing, a loop changes things forever: asking for
        # both is refused rather than one of them silently ignored.
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--loop",
            action="store_true",
            help="Keep sweeping until SIGTERM or SIGINT: at each deadline, when "
            "woken by a new offer, and at least every --interval seconds.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Most seconds between sweeps with --loop "
            "(default: ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL).",
        )
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="Report how many offers are due and change nothing.",
        )
        parser.add_argument(
            "--model",
            action="append",
            dest="models",
            metavar="APP_LABEL.MODEL",
            help="Sweep only this model (repeatable).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per transaction (default: ASSIGNMENT_TIMEOUT_BATCH_SIZE).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        models = adopting_models(options["models"])
        batch_size = options["batch_size"]
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be a positive integer.")
        interval = options["interval"]
        if interval is None:
            interval = self._default_interval()
        if not interval > 0:
            raise CommandError("--interval must be a positive number of seconds.")
        if options["dry_run"]:
            self._dry_run(models)
            return
        if not options["loop"]:
            self._sweep_once(models, batch_size)
            return
        self._loop(models, batch_size, float(interval))

    def _probe_interval(self) -> float:
        try:
            return wake_probe_interval()
        except ConfigurationError as err:
            raise CommandError(str(err)) from err

    def _default_interval(self) -> float:
        # The rule system check E011 applies, so a setting the check passes
        # ("60" from the environment, a timedelta) is one the loop runs with.
        try:
            return sweep_interval()
        except ConfigurationError as err:
            raise CommandError(str(err)) from err

    def _dry_run(self, models: list[Any] | None) -> None:
        counts = sweep.count_due(models)
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} due")
        self.stdout.write(
            f"would expire {sum(counts.values())} (dry run, nothing changed)"
        )

    def _sweep_once(
        self,
        models: list[Any] | None,
        batch_size: int | None,
        delivery_budget: float | None = None,
        *,
        quiet_when_idle: bool = False,
    ) -> Tick:
        try:
            result = sweep.sweep(models, batch_size=batch_size)
        except AssignmentError as err:
            raise CommandError(f"Sweep failed: {err}") from err
        # A loop's idle tick is not news: a line every interval would bury the
        # ones that are. -v 2 shows every tick; a one-off run always reports.
        idle = (
            not result.expired_count
            and not result.reminded_count
            and not result.has_more
        )
        if idle and quiet_when_idle and self.verbosity < 2:
            delivered = self._deliver(delivery_budget)
            # Throttled to once an interval, so an idle wake stays one probe.
            prune_periodically()
            return Tick.WORKED if delivered else Tick.IDLE
        for label, count in sorted(result.by_model.items()):
            self.stdout.write(f"{label}: {count} expired")
        self.stdout.write(
            f"expired {result.expired_count} in {result.batches} batch(es)"
            + (" (more due)" if result.has_more else "")
        )
        if result.reminded_count:
            self.stdout.write(f"reminded {result.reminded_count}")
        delivered = self._deliver(delivery_budget)
        prune_periodically()
        self.stdout.flush()
        if result.has_more:
            return Tick.MORE
        worked = result.expired_count or result.reminded_count or delivered
        return Tick.WORKED if worked else Tick.IDLE

    def _deliver(self, time_budget: float | None) -> bool:
        """Deliver what is due; whether any event changed state."""
        # The backstop of notification delivery: whatever the scheduler's
        # after-commit trigger missed goes out here. A delivery failure never
        # fails the sweep that already committed.
        try:
            result = deliver_pending(time_budget=time_budget)
        except Exception as err:
            self.stderr.write(f"Notification delivery failed: {err}")
            return False
        return bool(result.delivered or result.retried or result.dead)

    def _loop(
        self, models: list[Any] | None, batch_size: int | None, interval: float
    ) -> None:
        events_alias = router.db_for_write(AssignmentEvent)

        def stopped_by(signum: int) -> None:
            # Told once the sweep that was running when the signal came ended.
            self.stdout.write(
                f"received signal {signum}, finished the sweep in progress"
            )

        def report(err: Exception) -> None:
            # A failed sweep (database restart, lost connection) is retried at
            # the next tick instead of killing the process.
            self.stderr.write(
                str(err) if isinstance(err, CommandError) else f"Sweep failed: {err!r}"
            )

        def started() -> None:
            self.stdout.write(f"sweeping every {interval:g}s; SIGTERM or SIGINT stops")
            self.stdout.flush()

        chosen = _sweep_models(models)
        # The sweep reminds and delivers too, so the loop wakes for any of
        # them: the next deadline, the next reminder, the next event due (a
        # new offer's, a retry's).
        pacing = Pacing(
            probe=lambda: _earliest(
                sweep.next_deadline(chosen),
                next_reminder(chosen),
                next_attempt(events_alias),
            ),
            listen_on=[router.db_for_write(m) for m in chosen] + [events_alias],
            probe_interval=self._probe_interval(),
        )
        # A delivery backlog may take one interval per tick, so sweeps stay on
        # schedule; the rest goes out next tick.
        run_until_stopped(
            lambda: self._sweep_once(
                models, batch_size, interval, quiet_when_idle=True
            ),
            interval,
            on_error=report,
            on_stop=stopped_by,
            on_start=started,
            pacing=pacing,
        )
        self.stdout.write("stopped")


def _sweep_models(models: list[Any] | None) -> list[Any]:
    """The models a sweep of ``models`` covers (``None``: every adopting model)."""
    return list(assignment_models()) if models is None else models


def _earliest(*seconds: float | None) -> float | None:
    known = [s for s in seconds if s is not None]
    return min(known) if known else None
