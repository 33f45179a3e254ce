"""The counters and the histogram of what happens in a process.

Created once, unregistered (``registry=None``), and added to :data:`REGISTRY`,
the library's own registry, so a project's default registry is left alone.
In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before prometheus_client
is first imported) prometheus_client keeps their values in files in that
directory instead of in memory, and the view reads every process's files.
"""

from __future__ import annotations

from django_assignment_timeout.exceptions import MissingExtraError

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "django_assignment_timeout.metrics", "metrics", "prometheus_client"
    ) from err

__all__ = ["EVENTS", "LATENESS", "LATENESS_BUCKETS", "NOTIFICATIONS", "REGISTRY"]

#: Seconds: from well inside one sweep interval to an hour (a stopped sweeper).
LATENESS_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 3600.0)

#: The library's registry: the in-process values of the metrics below.
REGISTRY = CollectorRegistry(auto_describe=True)

#: Events written (each is one committed transition), by model and kind.
EVENTS = Counter(
    "assignment_timeout_events",
    "Assignment events committed, by model and kind.",
    ["model", "kind"],
    registry=None,
)

#: Seconds from an offer's deadline to its expiry, on the database clock.
LATENESS = Histogram(
    "assignment_timeout_expiry_lateness_seconds",
    "Seconds from an offer's deadline to the commit of its expiry.",
    ["model"],
    buckets=LATENESS_BUCKETS,
    registry=None,
)

#: One per (notification, recipient) a notifier backend was given.
NOTIFICATIONS = Counter(
    "assignment_timeout_notifications",
    "Notification results per recipient, by notifier, result and error code.",
    ["backend", "result", "code"],
    registry=None,
)

for _metric in (EVENTS, LATENESS, NOTIFICATIONS):
    REGISTRY.register(_metric)
