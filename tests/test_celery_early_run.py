"""A Celery ``expire_offer`` that runs before its deadline retries at the deadline.

A worker whose clock runs ahead, or a task sent early, finds the offer open
and not yet due by the database clock: it expires nothing and retries
itself for the time the database says is left, so the offer is expired at
its deadline by that same task rather than minutes later by a sweep. A real
worker on Redis (no beat: nothing else could expire the offer).
"""

from __future__ import annotations

import contextlib
import uuid

import pytest

from tests.support.assertions import expired_events, status
from tests.support.celery_app import REDIS_URL, redis_app
from tests.support.polling import wait_for
from tests.testapp.models import StockRequest

BACKEND = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
APPS = "tests.support.celery_app"


def _delete_queue(queue: str) -> None:
    from kombu import Connection

    # Best effort: the queue may never have been declared.
    with (
        Connection(REDIS_URL, connect_timeout=2) as conn,
        contextlib.suppress(Exception),
    ):
        conn.default_channel.queue_delete(queue)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_early_expire_offer_retries_and_expires_at_the_deadline(children, driver):
    queue = f"early-{uuid.uuid4().hex[:8]}"
    row = StockRequest.objects.create()
    worker = children.python(
        "worker",
        "-m", "celery", "-A", f"{APPS}:app", "worker",
        "--hostname", f"{queue}@%h", "--pool", "solo", "-Q", queue,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO",
        broker_url=REDIS_URL,
        queue=queue,
        log_level="INFO",
        settings={
            "ASSIGNMENT_TIMEOUT_SCHEDULER": {
                "BACKEND": BACKEND,
                "OPTIONS": {"app": f"{APPS}.app", "precise": False},
            }
        },
    )  # fmt: skip
    try:
        with worker:
            # Offered once the worker is up, so that the task surely runs early.
            wait_for(lambda: " ready." in worker.output(), 60, "the worker")
            event = row.offer(driver, timeout=5)  # the default scheduler sends none
            redis_app.send_task(
                "assignment_timeout.expire_offer",
                args=(StockRequest._meta.label, row.pk, event.attempt),
                queue=queue,
            )
            wait_for(lambda: "Retry in" in worker.output(), 30, "an early retry")
            assert status(StockRequest, row.pk) == ("ASSIGNING", 1)
            wait_for(lambda: expired_events(StockRequest, row.pk), 30, "the expiry")
    finally:
        _delete_queue(queue)
    assert expired_events(StockRequest, row.pk) == 1
    assert status(StockRequest, row.pk) == ("PENDING", 1)
    expired_at = row.assignment_events().get(kind="expired").created_at
    assert expired_at >= event.deadline
