"""The gauges, read from the database at scrape time through :mod:`..status`.

A gauge kept in a process would be wrong as soon as there are two (each
web worker its own value) and stale after a restart; the database holds the
truth and :mod:`django_assignment_timeout.status` reads it with index-bound
queries, so each scrape asks it. The recent-lateness sample of
``current_status()`` (up to 10,000 rows) is not read: the lateness histogram
counts each expiry as it commits instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from django.db import DatabaseError, router

from django_assignment_timeout.clock import database_now
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.exceptions import MissingExtraError
from django_assignment_timeout.options import assignment_models
from django_assignment_timeout.status import model_status, outbox_status

try:
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "django_assignment_timeout.metrics", "metrics", "prometheus_client"
    ) from err

if TYPE_CHECKING:
    from django.db import models
    from prometheus_client.metrics_core import Metric

__all__ = ["StatusCollector"]

logger = logging.getLogger("django_assignment_timeout.metrics")


class StatusCollector(Collector):
    """Yields the status gauges; register it in any ``CollectorRegistry``.

    ``models`` defaults to every adopting model, ``using`` to the router's
    read database of each table. If the database can not be read, the
    gauges are left out of that scrape (and ``assignment_timeout_status_up``
    is 0), so the counters are still served.
    """

    def __init__(
        self,
        models: Iterable[type[models.Model]] | None = None,
        *,
        using: str | None = None,
    ) -> None:
        self.models = None if models is None else list(models)
        self.using = using

    def describe(self) -> list[Metric]:
        """Nothing: the registry must not call :meth:`collect` to describe it."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the status and yield one gauge family per figure."""
        up = GaugeMetricFamily(
            "assignment_timeout_status_up",
            "1 if the status gauges could be read from the database this scrape.",
        )
        try:
            families = self._families()
        except DatabaseError:
            logger.exception("Could not read the assignment status for metrics")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> list[Metric]:
        using = self.using
        now = database_now(using or router.db_for_read(AssignmentEvent))
        chosen = assignment_models() if self.models is None else self.models
        models = [model_status(model, now, using=using) for model in chosen]
        outbox = outbox_status(now, using=using)
        offers = GaugeMetricFamily(
            "assignment_timeout_offers_open",
            "Offers waiting for an answer, due or not, by model.",
            labels=["model"],
        )
        due = GaugeMetricFamily(
            "assignment_timeout_offers_due",
            "Open offers past their deadline (the sweeper's work not yet done).",
            labels=["model"],
        )
        swept = GaugeMetricFamily(
            "assignment_timeout_sweeper_last_run_timestamp_seconds",
            "Unix time a sweep last swept the model (0: never).",
            labels=["model"],
        )
        for status in models:
            offers.add_metric([status.model], status.open_offers)
            due.add_metric([status.model], status.due_offers)
            last = status.last_swept_at
            swept.add_metric([status.model], 0 if last is None else last.timestamp())
        backlog = GaugeMetricFamily(
            "assignment_timeout_outbox_backlog",
            "Events waiting for delivery (new, or to be retried).",
            value=outbox.backlog,
        )
        oldest = GaugeMetricFamily(
            "assignment_timeout_outbox_oldest_age_seconds",
            "Seconds since the oldest event waiting for delivery was written (0: none).",
            value=outbox.oldest_pending_age_seconds or 0,
        )
        dead = GaugeMetricFamily(
            "assignment_timeout_dead_letters",
            "Events the relay gave up on.",
            value=outbox.dead_letters,
        )
        return [offers, due, swept, backlog, oldest, dead]
