"""``manage.py assignment_status``: what the sweeper, the outbox and expiries look like.

A human summary, or ``--json`` for scripts; ``--model`` narrows the models.
It reads :func:`django_assignment_timeout.status.current_status` (a few
index reads) and changes nothing; its exit status is 0 whatever it finds
(the health check is what fails).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_assignment_timeout.management.labels import adopting_models
from django_assignment_timeout.status import ModelStatus, Status, current_status


class Command(BaseCommand):
    help = (
        "Summarise open and due offers, the sweeper's last run, the notification "
        "outbox and recent expiry lateness."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the status as one JSON object.",
        )
        parser.add_argument(
            "--model",
            action="append",
            dest="models",
            metavar="APP_LABEL.MODEL",
            help="Report only this model (repeatable).",
        )
        parser.add_argument(
            "--database",
            default=None,
            help="Read every table from this database (default: where the router reads).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        status = current_status(
            adopting_models(options["models"]), using=options["database"]
        )
        if options["json"]:
            self.stdout.write(json.dumps(status.as_dict(), indent=2))
            return
        for line in _summary(status):
            self.stdout.write(line)


def _summary(status: Status) -> list[str]:
    """The human summary, one line per model and one per concern."""
    interval = status.sweep_interval_seconds
    lines = [
        f"Status at {status.checked_at.isoformat()} (database clock), sweep interval "
        + ("invalid" if interval is None else f"{interval:g} s")
    ]
    lines += [_model_line(model) for model in status.models]
    age = status.sweeper_age_seconds
    never = [m.model for m in status.models if m.last_swept_at is None]
    if never:
        lines.append(f"Sweeper: never swept {', '.join(never)}")
    elif age is not None:
        lines.append(f"Sweeper: every model swept within the last {_s(age)}")
    outbox = status.outbox
    oldest = outbox.oldest_pending_age_seconds
    lines.append(
        f"Outbox: {outbox.backlog} pending"
        + ("" if oldest is None else f" (oldest {_s(oldest)} old)")
        + f", {outbox.dead_letters} dead"
    )
    late = status.lateness
    window = f"last {late.window_seconds / 60:g} min"
    if not late.count:
        lines.append(f"Lateness ({window}): no expiries")
    else:
        lines.append(
            f"Lateness ({window}, {late.count} expiries): p50 {_s(late.p50_seconds)}, "
            f"p99 {_s(late.p99_seconds)}, max {_s(late.max_seconds)}"
        )
    return lines


def _model_line(model: ModelStatus) -> str:
    line = f"{model.model}: {model.open_offers} open, {model.due_offers} due"
    if model.oldest_overdue_seconds is not None:
        line += f" (oldest {_s(model.oldest_overdue_seconds)} overdue)"
    if model.last_swept_age_seconds is None:
        return f"{line}; never swept"
    return f"{line}; swept {_s(model.last_swept_age_seconds)} ago by {model.swept_by}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"
