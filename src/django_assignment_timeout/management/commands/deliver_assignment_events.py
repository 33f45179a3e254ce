"""``manage.py deliver_assignment_events``: run the notification relay.

Once (cron, a systemd timer), in a loop (``--loop``), or to inspect and
re-queue events the relay gave up on, and their recipients (``--list-dead``,
``--requeue-dead`` with ``--recipient`` / ``--backend``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router
from django.db.models import Prefetch

from django_assignment_timeout.conf import wake_probe_interval
from django_assignment_timeout.delivery import (
    deliver_pending,
    next_attempt,
    requeue_dead,
)
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import AssignmentError, ConfigurationError
from django_assignment_timeout.management.loop import Pacing, Tick, run_until_stopped
from django_assignment_timeout.recipient_delivery import RecipientDelivery

#: Dead events read per query by --list-dead (their recipients come with them).
LIST_CHUNK = 500


class Command(BaseCommand):
    help = "Deliver pending assignment notifications; list or re-queue dead ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Events per batch."
        )
        parser.add_argument(
            "--max-batches", type=int, default=None, help="Batches per run."
        )
        # One mode per run: asked for two, the command refuses rather than
        # silently doing one of them.
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--loop",
            action="store_true",
            help="Keep delivering until SIGTERM or SIGINT: as soon as an event "
            "is due, and at least every --interval seconds.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help="Most seconds between runs with --loop.",
        )
        mode.add_argument(
            "--list-dead", action="store_true", help="List dead events and exit."
        )
        mode.add_argument(
            "--requeue-dead",
            nargs="*",
            type=int,
            metavar="EVENT_ID",
            help="Make dead events (all, or these ids) due again with fresh tries; "
            "the next try sends only to their dead recipients.",
        )
        parser.add_argument(
            "--recipient",
            metavar="KEY",
            help="With --requeue-dead: only this dead recipient (its key, as "
            "--list-dead shows it).",
        )
        parser.add_argument(
            "--backend",
            metavar="ALIAS",
            help="With --requeue-dead: only dead recipients of this notifier.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        for name in ("batch_size", "max_batches"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(
                    f"--{name.replace('_', '-')} must be a positive integer."
                )
        if not options["interval"] > 0:
            raise CommandError("--interval must be a positive number of seconds.")
        narrowed = options["recipient"] is not None or options["backend"] is not None
        if narrowed and options["requeue_dead"] is None:
            raise CommandError("--recipient and --backend go with --requeue-dead.")
        if options["list_dead"]:
            self._list_dead()
        elif options["requeue_dead"] is not None:
            self._requeue(
                options["requeue_dead"], options["recipient"], options["backend"]
            )
        elif options["loop"]:
            self._loop(
                options["batch_size"], options["max_batches"], options["interval"]
            )
        else:
            self._deliver(options["batch_size"], options["max_batches"])

    def _list_dead(self) -> None:
        events = (
            AssignmentEvent.objects.dead()
            .select_related("content_type")
            .prefetch_related(
                Prefetch(
                    "recipient_deliveries",
                    # The prefetch's filter is what .all() returns below.
                    queryset=RecipientDelivery.objects.dead().order_by("pk"),
                )
            )
            .order_by("pk")
        )
        count = recipients = 0
        for event in events.iterator(chunk_size=LIST_CHUNK):
            count += 1
            self.stdout.write(
                f"{event.pk}\t{event.content_type.app_label}.{event.content_type.model}"
                f":{event.object_pk}\t#{event.attempt}\t{event.kind}"
                f"\ttries={event.delivery_attempts}\t{event.last_error}"
            )
            # Under its event, each recipient given up on: what --recipient takes.
            for row in event.recipient_deliveries.all():
                recipients += 1
                self.stdout.write(
                    f"  {event.pk}\t{row.backend}\t{row.recipient_key}"
                    f"\ttries={row.failures}\t{row.last_error}"
                )
        summary = f"{count} dead event(s)"
        if recipients:
            summary += f", {recipients} dead recipient(s)"
        self.stdout.write(summary)

    def _requeue(
        self, pks: list[int], recipient: str | None, backend: str | None
    ) -> None:
        count = requeue_dead(pks or None, recipient=recipient, backend=backend)
        self.stdout.write(f"re-queued {count} dead event(s)")

    def _deliver(
        self,
        batch_size: int | None,
        max_batches: int | None,
        *,
        quiet_when_idle: bool = False,
    ) -> Tick:
        try:
            result = deliver_pending(batch_size=batch_size, max_batches=max_batches)
        except AssignmentError as err:
            raise CommandError(f"Delivery failed: {err}") from err
        # As the sweep loop: an idle tick prints nothing unless -v 2.
        idle = not (
            result.delivered or result.retried or result.dead or result.has_more
        )
        if idle and quiet_when_idle and self.verbosity < 2:
            return Tick.IDLE
        self.stdout.write(
            f"delivered {result.delivered}, retrying {result.retried}, dead {result.dead}"
            + (" (more due)" if result.has_more else "")
        )
        self.stdout.flush()
        if result.has_more:
            return Tick.MORE
        return Tick.IDLE if idle else Tick.WORKED

    def _loop(
        self, batch_size: int | None, max_batches: int | None, interval: float
    ) -> None:
        def report(err: Exception) -> None:
            self.stderr.write(f"Delivery failed: {err!r}")

        def stopped_by(signum: int) -> None:
            self.stdout.write(
                f"received signal {signum}, finished the delivery in progress"
            )

        def started() -> None:
            self.stdout.write(
                f"delivering every {interval:g}s; SIGTERM or SIGINT stops"
            )
            self.stdout.flush()

        try:
            probe_interval = wake_probe_interval()
        except ConfigurationError as err:
            raise CommandError(str(err)) from err
        using = router.db_for_write(AssignmentEvent)
        # Woken by each new event (PostgreSQL), or probing for one; and
        # asleep until the next retry is due.
        pacing = Pacing(
            probe=lambda: next_attempt(using),
            listen_on=[using],
            probe_interval=probe_interval,
        )
        run_until_stopped(
            lambda: self._deliver(batch_size, max_batches, quiet_when_idle=True),
            interval,
            on_error=report,
            on_stop=stopped_by,
            on_start=started,
            pacing=pacing,
        )
        self.stdout.write("stopped")
