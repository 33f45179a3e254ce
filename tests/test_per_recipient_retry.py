"""Retries per recipient, end to end: the real firebase-admin SDK against the fake FCM.

Three drivers are told about one offer; one driver's token is answered 503
(UNAVAILABLE) on its first three sends. The other two get the push exactly
once, the third after its retries, and nobody twice.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from django_assignment_timeout.delivery import deliver_pending, requeue_dead
from django_assignment_timeout.models import (
    AssignmentEvent,
    DeliveryState,
    RecipientDelivery,
    RecipientState,
)
from django_assignment_timeout.notifications import make_notification
from django_assignment_timeout.notifiers.base import recipient_key
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

BACKEND = "django_assignment_timeout.notifiers.fcm.FCMNotifier"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def drivers(monkeypatch):
    """Three drivers, each told of every event of any stock request."""
    crew = [Driver.objects.create(name=name) for name in ("Ravi", "Asha", "Noor")]

    def tell_the_crew(self, event):
        return [make_notification(self, event, crew, "Trip", f"{event.kind} {self}")]

    monkeypatch.setattr(StockRequest, "assignment_notifications", tell_the_crew)
    return crew


def _settings(fake, max_attempts=8):
    options = fake.notifier_options(
        token_resolver="tests.support.fcm_fake.driver_tokens"
    )
    return override_settings(
        ASSIGNMENT_TIMEOUT_NOTIFIERS={"push": {"BACKEND": BACKEND, "OPTIONS": options}},
        ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS=max_attempts,
    )


def _run_until_settled(tries):
    """Deliver, making each retry due at once (the database clock does not move)."""
    for _ in range(tries):
        deliver_pending()
        AssignmentEvent.objects.undelivered().update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )


def _tokens(messages):
    return Counter(m["token"] for m in messages)


def test_a_failing_token_is_retried_alone_and_nobody_gets_it_twice(
    fake, drivers, stock_request
):
    ravi, asha, noor = drivers
    fake.fail(f"driver-{noor.pk}", "UNAVAILABLE", times=3)
    with _settings(fake):
        event = stock_request.offer(ravi)
        _run_until_settled(6)

    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED
    assert event.delivery_attempts == 4
    delivered = _tokens(fake.messages())
    assert delivered == {f"driver-{d.pk}": 1 for d in drivers}
    # Control: the three failures did happen, and each retry went to Noor only.
    assert _tokens(fake.messages(status=None)) == {
        f"driver-{ravi.pk}": 1,
        f"driver-{asha.pk}": 1,
        f"driver-{noor.pk}": 4,
    }
    # Only the recipient that failed has a row; the clean ones cost no write.
    [row] = RecipientDelivery.objects.all()
    assert (row.recipient_key, row.backend) == (recipient_key(noor), "push")
    assert (row.state, row.failures, row.last_error) == (
        RecipientState.DELIVERED,
        3,
        "",
    )


def test_a_recipient_out_of_tries_is_a_dead_letter_requeued_alone(
    fake, drivers, stock_request
):
    ravi, asha, noor = drivers
    fake.fail(f"driver-{noor.pk}", "UNAVAILABLE", times=None)
    with _settings(fake, max_attempts=2):
        event = stock_request.offer(ravi)
        _run_until_settled(3)

        event.refresh_from_db()
        assert event.delivery_state == DeliveryState.DEAD
        [row] = RecipientDelivery.objects.dead()
        assert row.recipient_key == recipient_key(noor)
        out = io.StringIO()
        call_command("deliver_assignment_events", "--list-dead", stdout=out)
        listed = out.getvalue()
        assert f"{event.pk}\tpush\t{recipient_key(noor)}\ttries=2" in listed
        assert recipient_key(asha) not in listed

        fake.reset()
        assert requeue_dead(recipient=recipient_key(noor), backend="push") == 1
        _run_until_settled(2)

    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED
    # After the requeue only Noor was sent to, and she got it.
    assert _tokens(fake.messages(status=None)) == {f"driver-{noor.pk}": 1}
    row.refresh_from_db()
    assert row.state == RecipientState.DELIVERED
