"""A scheduler whose triggers do nothing, for bench/lifecycle.py.

The benchmark times the transitions' transactions against the same
statements in raw SQL; the default command scheduler's ``NOTIFY`` after each
commit is work the raw side does not do, so it is measured apart.
"""

from __future__ import annotations

from typing import Any

from django_assignment_timeout.schedulers.base import BaseScheduler


class QuietScheduler(BaseScheduler):
    """Accepts every trigger and does nothing with it."""

    def schedule_expiry(self, model: Any, pk: Any, attempt: int, deadline: Any) -> None:
        """Nothing: the benchmark never expires by deadline."""

    def schedule_delivery(self) -> None:
        """Nothing: no event is delivered in the benchmark."""
