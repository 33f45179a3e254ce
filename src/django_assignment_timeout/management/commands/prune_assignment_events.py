"""``manage.py prune_assignment_events --older-than 90d``: delete old, settled events.

Undelivered events and the events of open offers are never removed, dead
letters only with ``--include-dead`` (:mod:`django_assignment_timeout.retention`).
Each batch is one short transaction; run it from cron as often as you like.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_assignment_timeout.exceptions import AssignmentError
from django_assignment_timeout.retention import (
    DEFAULT_BATCH_SIZE,
    PruneBatch,
    prune_events,
)
from django_assignment_timeout.validation import duration_seconds


class Command(BaseCommand):
    help = (
        "Delete assignment events older than --older-than, in bounded batches; "
        "undelivered events and those of open offers are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            metavar="AGE",
            help="Age of the events to delete: 90d, 12h, 30m, 45s or seconds.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Events per transaction (default: {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop after this many batches (default: until none are left).",
        )
        parser.add_argument(
            "--include-dead",
            action="store_true",
            help="Delete old dead letters too (kept by default: they are evidence).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted and change nothing.",
        )
        parser.add_argument(
            "--database",
            default=None,
            help="The database to prune (default: the router's choice for events).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])
        try:
            seconds = duration_seconds(options["older_than"], "--older-than")
        except AssignmentError as err:
            raise CommandError(str(err)) from err
        for name in ("batch_size", "max_batches"):
            value = options[name]
            if value is not None and value < 1:
                flag = "--" + name.replace("_", "-")
                raise CommandError(f"{flag} must be a positive integer.")
        dry_run = options["dry_run"]
        verb = "would delete" if dry_run else "deleted"

        def report(batch: PruneBatch) -> None:
            if verbosity >= 2:
                self.stdout.write(
                    f"batch {batch.number}: {verb} {batch.deleted}, kept "
                    f"{batch.kept_open} of open offers ({batch.seconds * 1000:.0f} ms)"
                )

        try:
            result = prune_events(
                seconds,
                batch_size=options["batch_size"],
                max_batches=options["max_batches"],
                using=options["database"],
                dry_run=dry_run,
                include_dead=options["include_dead"],
                on_batch=report,
            )
        except AssignmentError as err:
            raise CommandError(f"Prune failed: {err}") from err
        cutoff = result.cutoff.isoformat() if result.cutoff else "?"
        self.stdout.write(
            f"{verb} {result.deleted} event(s) created before {cutoff} in "
            f"{result.batches} batch(es); kept {result.kept_open} of open offers"
            + (" (more left)" if result.has_more else "")
            + (" (dry run, nothing changed)" if dry_run else "")
        )
