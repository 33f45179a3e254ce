"""Rows the tests and the benchmarks both need."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.testapp.models import Driver, StockRequest


def due_offers(count: int) -> None:
    """``count`` offers, each to its own driver, already past their deadline."""
    drivers = Driver.objects.bulk_create(Driver(name=f"d{i}") for i in range(count))
    past = timezone.now() - timedelta(seconds=1)
    StockRequest.objects.bulk_create(
        (
            StockRequest(
                status="ASSIGNING",
                target_driver=driver,
                assignment_attempt=1,
                assignment_started_at=past - timedelta(seconds=300),
                assignment_expires_at=past,
            )
            for driver in drivers
        ),
        batch_size=1000,
    )


def offered_requests(
    driver: Driver, count: int, **values: object
) -> list[StockRequest]:
    """``count`` new stock requests, each offered to ``driver`` (``values``: the
    offer's extra field values, such as ``assignment_mode``)."""
    rows = [StockRequest.objects.create() for _ in range(count)]
    for row in rows:
        row.offer(driver, **values)
    return rows
