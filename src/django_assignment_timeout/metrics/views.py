"""The view to mount at ``/metrics``: the gauges and every process's counters.

Mount :func:`metrics` in a ``urls.py`` (the metrics guide shows how). It is
not protected: serve it only where Prometheus can reach it, or wrap it
(an IP allow-list in the proxy, a decorator of your own).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from django_assignment_timeout.exceptions import MissingExtraError
from django_assignment_timeout.metrics import MULTIPROC_ENV
from django_assignment_timeout.metrics.collector import StatusCollector
from django_assignment_timeout.metrics.instruments import REGISTRY

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        generate_latest,
    )
    from prometheus_client.metrics_core import Metric
    from prometheus_client.multiprocess import MultiProcessCollector
    from prometheus_client.registry import Collector
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "django_assignment_timeout.metrics", "metrics", "prometheus_client"
    ) from err

__all__ = ["metrics", "registry"]


def registry() -> CollectorRegistry:
    """A registry of what one scrape serves: the gauges, then the counters.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, the counters are the sum of every
    process's files in that directory (this process's included, as
    prometheus_client writes them there); otherwise this process's own.
    """
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(StatusCollector())
    if os.environ.get(MULTIPROC_ENV):
        # (prometheus_client leaves this constructor unannotated)
        MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
    else:
        scrape.register(_Counters())
    return scrape


class _Counters(Collector):
    """This process's counters (the library's registry), as one collector."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Serve the metrics in Prometheus' text format."""
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
