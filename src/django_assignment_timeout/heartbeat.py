"""The sweeper's heartbeat: when each model was last swept, on the database clock.

Every :func:`~django_assignment_timeout.sweep.sweep` run (each scheduler's
periodic job, ``expire_assignments`` once or in a loop) stamps one
:class:`SweeperHeartbeat` row per model it swept, so an operator, the status
summary and the health check can tell a stopped sweeper from an idle one.
The write is one upsert, throttled in-process to at most one per
:func:`throttle_seconds` per model (a loop that wakes often does not write on
every wake), and a failing write is logged, never raised: a heartbeat must
not fail the sweep it reports.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from django.db import connections, models, router, transaction
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.clock import DatabaseNow
from django_assignment_timeout.conf import sweep_interval
from django_assignment_timeout.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MIN_THROTTLE",
    "SweeperHeartbeat",
    "forget_beats",
    "record_sweep",
    "throttle_seconds",
]

logger = logging.getLogger("django_assignment_timeout.heartbeat")

#: The shortest gap (seconds) between two heartbeats of one model from one process.
MIN_THROTTLE = 1.0


class SweeperHeartbeat(models.Model):
    """When a model's offers were last swept, and by which process."""

    #: The swept model's label (``"logistics.StockRequest"``).
    name = models.CharField(_("swept model"), max_length=200, unique=True)
    last_run_at = models.DateTimeField(_("last swept at"), db_default=DatabaseNow())
    host = models.CharField(_("host"), max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)

    class Meta:
        verbose_name = _("sweeper heartbeat")
        verbose_name_plural = _("sweeper heartbeats")

    def __str__(self) -> str:
        return f"{self.name} swept at {self.last_run_at}"


class _Throttle:
    """When this process last wrote each (database, name), on the monotonic clock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written: dict[tuple[str, str], float] = {}

    def take(self, using: str, names: Iterable[str], gap: float) -> list[str]:
        """The names due a heartbeat, marked as written now."""
        now = time.monotonic()
        with self.lock:
            due = [
                name
                for name in sorted(set(names))
                if now - self.written.get((using, name), -math.inf) >= gap
            ]
            for name in due:
                self.written[(using, name)] = now
        return due


_throttle = _Throttle()


def throttle_seconds() -> float:
    """``max(1 s, sweep interval / 4)``: at least four heartbeats per interval.

    So a health check that allows two intervals never sees a running
    sweeper's heartbeat as stale. A bad interval (reported by check E011)
    falls back to the default's 15 s rather than fail the sweep.
    """
    try:
        interval = sweep_interval()
    except ConfigurationError:
        interval = 60.0
    return max(MIN_THROTTLE, interval / 4)


def record_sweep(names: Iterable[str], *, using: str | None = None) -> int:
    """Stamp ``names`` (model labels) as swept now; return how many rows were written.

    One statement (an upsert on ``name``) for every name not written by this
    process within :func:`throttle_seconds`; nothing at all otherwise. A
    failure (say the migration is not applied yet) is logged and returns 0.
    """
    using = using or router.db_for_write(SweeperHeartbeat)
    due = _throttle.take(using, names, throttle_seconds())
    if not due:
        return 0
    host, pid = socket.gethostname()[:255], os.getpid()
    # MySQL / MariaDB's ON DUPLICATE KEY UPDATE takes no conflict target
    # (name is the only unique key besides the id, so it is the one hit).
    target = (
        ["name"]
        if connections[using].features.supports_update_conflicts_with_target
        else None
    )
    try:
        # A savepoint, so a failure inside a caller's transaction leaves it usable.
        with transaction.atomic(using=using):
            SweeperHeartbeat.objects.using(using).bulk_create(
                [
                    SweeperHeartbeat(
                        name=name, last_run_at=DatabaseNow(), host=host, pid=pid
                    )
                    for name in due
                ],
                update_conflicts=True,
                unique_fields=target,
                update_fields=["last_run_at", "host", "pid"],
            )
    except Exception:
        logger.exception("Could not record the sweeper heartbeat of %s", ", ".join(due))
        return 0
    return len(due)


def forget_beats() -> None:
    """Forget what this process wrote, so the next sweep writes at once (for tests)."""
    with _throttle.lock:
        _throttle.written.clear()
