"""Prometheus metrics (extra ``metrics``): what an operator graphs and alerts on.

Two kinds of numbers, each read where it is cheap and correct:

- **Gauges, read at scrape time** from the database by
  :class:`~django_assignment_timeout.metrics.collector.StatusCollector`, through
  :mod:`django_assignment_timeout.status` (a few index-bound queries): open
  and due offers, the outbox backlog and its oldest age, dead letters, each
  model's last sweep. Every process that serves ``/metrics`` sees the same
  values, so they need no multiprocess machinery.
- **Counters and a histogram of what happens in a process**
  (:mod:`.instruments`): events written, how late expiries were, the results
  of notification sends. :mod:`.receivers` feeds them from the library's
  signals, connected by :func:`install` when ``ASSIGNMENT_TIMEOUT_METRICS``
  is on. Under several processes (gunicorn workers, Celery prefork, a
  sweeper and a relay beside the web server) they are kept by
  prometheus_client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is
  set, and :func:`~django_assignment_timeout.metrics.views.metrics` adds them up.

Importing this package never imports prometheus_client; importing its
modules without it raises a
:class:`~django_assignment_timeout.exceptions.MissingExtraError`.
"""

from __future__ import annotations

import logging

from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.exceptions import MissingExtraError

__all__ = ["MULTIPROC_ENV", "install"]

logger = logging.getLogger("django_assignment_timeout.metrics")

#: The environment variable that turns on prometheus_client's multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def install() -> bool:
    """Connect the metric receivers if ``ASSIGNMENT_TIMEOUT_METRICS`` is on.

    Called from ``AppConfig.ready()``. Returns whether they are connected.
    Without prometheus_client nothing is connected and check E061 says what
    to install: ``ready()`` must not fail, or ``manage.py check`` could not
    report it.
    """
    if app_settings.METRICS is not True:
        return False
    try:
        from django_assignment_timeout.metrics import receivers
    except MissingExtraError:
        logger.error(
            "ASSIGNMENT_TIMEOUT_METRICS is on but prometheus_client is not installed; "
            "pip install 'django-assignment-timeout[metrics]'"
        )
        return False
    receivers.connect()
    return True
