"""An offer's push lives as long as the offer, and the offer's end replaces it.

The real firebase-admin SDK against the local fake FCM server: the wire
payload carries ``android.ttl`` and ``apns-expiration`` from the database
clock, an offer already past its deadline is not sent, and each way an offer
ends sends the replacing message once per device.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection
from django.test.utils import override_settings

from django_assignment_timeout import signals
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifications import collapse_key
from django_assignment_timeout.notifiers import base, load_notifier
from django_assignment_timeout.notifiers.base import Notification, Status
from django_assignment_timeout.options import EXPIRES_AT
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

BACKEND = "django_assignment_timeout.notifiers.fcm.FCMNotifier"
RESOLVER = "tests.test_fcm_lifespan.two_devices"


def two_devices(recipients: list[Any]) -> dict[Any, list[str]]:
    """Every driver has a phone and a tablet."""
    return {r: [f"phone-{r.pk}", f"tablet-{r.pk}"] for r in recipients}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def _settings(fake, **options):
    config = {
        "BACKEND": BACKEND,
        "OPTIONS": fake.notifier_options(token_resolver=RESOLVER, **options),
    }
    return override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS={"push": config})


def _deadline_in(request: StockRequest, seconds: float) -> datetime:
    """Move the stored deadline to ``seconds`` from now; return it as stored."""
    deadline = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    StockRequest.objects.filter(pk=request.pk).update(**{EXPIRES_AT: deadline})
    stored: datetime = StockRequest.objects.values_list(EXPIRES_AT, flat=True).get(
        pk=request.pk
    )
    return stored


def _ttl(message: dict[str, Any]) -> float:
    return float(message["android"]["ttl"].removesuffix("s"))


def test_an_offers_push_lives_until_its_deadline(fake):
    driver = Driver.objects.create(name="Ravi")
    request = StockRequest.objects.create()
    with _settings(fake):
        request.offer(driver)
        deadline = _deadline_in(request, 123)
        assert deliver_pending().delivered == 1

    sends = fake.sends()
    assert sorted(s["body"]["message"]["token"] for s in sends) == [
        f"phone-{driver.pk}",
        f"tablet-{driver.pk}",
    ]
    for send in sends:
        message = send["body"]["message"]
        # The time left when FCM received it (the fake's clock is this
        # machine's, as is the test database's).
        left = deadline.timestamp() - send["time"]
        assert abs(_ttl(message) - left) <= 1.0
        assert 100 < _ttl(message) <= 123
        headers = message["apns"]["headers"]
        assert headers["apns-expiration"] == str(int(deadline.timestamp()))
        assert headers["apns-priority"] == "10"
        assert message["android"]["priority"] == "high"


def test_the_time_left_is_measured_on_the_database_clock(fake, monkeypatch):
    driver = Driver.objects.create(name="Ravi")
    request = StockRequest.objects.create()
    # This server's clock runs an hour fast: by it, every offer has expired.
    fast = datetime.now(timezone.utc) + timedelta(hours=1)
    monkeypatch.setattr(base, "server_now", lambda: fast)
    with _settings(fake):
        request.offer(driver)
        deadline = _deadline_in(request, 200)
        assert deliver_pending().delivered == 1
    # The relay read the database's clock: the push went out with its time left.
    [phone, _tablet] = fake.messages()
    assert 190 < _ttl(phone) <= 200

    # Control: the same notification sent without the relay's clock reading
    # is judged by this server's clock, and is not sent.
    notifier = load_notifier(
        "push", {"BACKEND": BACKEND, "OPTIONS": fake.notifier_options()}
    )
    fake.reset()
    [result] = notifier.send([Notification(("tok",), "T", "B", expires_at=deadline)])
    assert result.status == Status.EXPIRED
    assert fake.sends() == []


def test_an_offer_past_its_deadline_is_not_sent_and_not_retried(fake):
    driver = Driver.objects.create(name="Ravi")
    request = StockRequest.objects.create()
    seen: list[Any] = []

    def receiver(sender: Any, results: list[Any], **kwargs: Any) -> None:
        seen.extend(results)

    signals.notifications_sent.connect(receiver)
    try:
        with _settings(fake):
            event = request.offer(driver)
            # The deadline passed before the relay got to it; no sweep yet,
            # so the offer is still the row's current one.
            make_due(StockRequest, request.pk)
            result = deliver_pending()
    finally:
        signals.notifications_sent.disconnect(receiver)

    assert fake.sends() == []
    assert [r.status for r in seen] == [Status.EXPIRED]
    assert seen[0].code == "EXPIRED"
    assert (result.delivered, result.retried, result.dead) == (1, 0, 0)
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED
    assert event.next_attempt_at is None  # final: never tried again


@pytest.mark.parametrize("ending", ["accepted", "rejected", "expired"])
def test_each_end_of_an_offer_replaces_it_once_per_device(fake, ending):
    driver = Driver.objects.create(name="Ravi")
    request = StockRequest.objects.create()
    with _settings(fake, ended_offer_ttl=600):
        request.offer(driver)
        deliver_pending()
        [offer, _] = fake.messages()
        fake.reset()
        if ending == "accepted":
            request.accept(driver)
        elif ending == "rejected":
            request.reject(driver)
        else:
            make_due(StockRequest, request.pk)
            assert sweep().expired_count == 1
        assert deliver_pending().delivered == 1
        assert deliver_pending().delivered == 0  # nothing goes out twice

    messages = fake.messages()
    assert sorted(m["token"] for m in messages) == [
        f"phone-{driver.pk}",
        f"tablet-{driver.pk}",
    ]
    key = collapse_key(request, 1)
    for message in messages:
        assert message["data"]["event"] == ending
        # The same keys as the offer: FCM drops the held offer for an offline
        # device, and the device replaces the one it shows.
        assert message["android"]["collapse_key"] == key
        assert message["android"]["notification"]["tag"] == key
        assert message["apns"]["headers"]["apns-collapse-id"] == key
        assert offer["android"]["collapse_key"] == key
        assert offer["android"]["notification"]["tag"] == key
        # It lives ended_offer_ttl, not the offer's minutes nor FCM's 4 weeks.
        assert _ttl(message) == 600
        expiration = int(message["apns"]["headers"]["apns-expiration"])
        assert abs(expiration - (time.time() + 600)) <= 5
    assert AssignmentEvent.objects.filter(kind=ending).count() == 1


@pytest.mark.parametrize(("transport", "workers"), [("threads", 4), ("async", 1)])
def test_sends_are_bounded_and_reuse_the_same_threads(fake, transport, workers):
    fake.delay = 0.2
    notifier = load_notifier(
        "push",
        {
            "BACKEND": BACKEND,
            "OPTIONS": fake.notifier_options(max_concurrency=4, transport=transport),
        },
    )
    notes = [Notification((f"tok-{i}",), "T", "B") for i in range(12)]
    before = _client_threads()
    started = time.monotonic()
    first = notifier.send(notes)
    elapsed = time.monotonic() - started
    after_first = _client_threads()
    second = notifier.send(notes[:2])

    assert [r.status for r in first + second] == [Status.SENT] * 14
    assert fake.max_in_flight == 4
    # 12 sends, 4 at a time, 0.2 s each: three rounds, not one, not twelve.
    assert 0.55 < elapsed < 2.0
    new = set(after_first) - set(before)
    # A pool (or one loop) for the process, not a thread per message; a
    # pool or loop an earlier test started may be the one reused.
    assert len(new) <= workers
    assert all(t.name.startswith("assignment-timeout-fcm") for t in new)
    assert set(_client_threads()) == set(after_first)  # the next batch reuses them


def _client_threads() -> list[threading.Thread]:
    # Not the fake server's own threads: one per connection it serves over
    # HTTP/1.1, one per stream it answers over HTTP/2 (the async transport),
    # which may still be finishing when the client has its answer.
    return [
        t
        for t in threading.enumerate()
        if "process_request" not in t.name and "fake-fcm-h2-respond" not in t.name
    ]


def test_the_lifespan_options_are_checked():
    def ids(**options: Any) -> list[str]:
        notifier = load_notifier("push", {"BACKEND": BACKEND, "OPTIONS": options})
        return sorted(m.id for m in notifier.check())

    assert ids(ended_offer_ttl=0) == ["assignment_timeout.E070"]
    assert ids(ended_offer_ttl="1d") == ["assignment_timeout.E070"]
    assert ids(max_concurrency=0) == ["assignment_timeout.E071"]
    assert ids(max_concurrency=2.5) == ["assignment_timeout.E071"]
    assert ids(transport="http3") == ["assignment_timeout.E072"]
    assert ids(ended_offer_ttl=30.5, max_concurrency=10, transport="async") == []


def test_a_naive_or_odd_expires_at_is_refused():
    with pytest.raises(base.InvalidNotification, match="aware datetime"):
        Notification(("t",), "T", "B", expires_at=datetime(2030, 1, 1))
    with pytest.raises(base.InvalidNotification, match="aware datetime"):
        Notification(("t",), "T", "B", expires_at="2030-01-01")  # type: ignore[arg-type]


def test_reading_the_clock_is_one_query_per_batch_and_only_for_offers(fake):
    from django.test.utils import CaptureQueriesContext

    drivers = [Driver.objects.create(name=f"d{i}") for i in range(3)]
    requests = [StockRequest.objects.create() for _ in drivers]
    with _settings(fake):
        for request, driver in zip(requests, drivers, strict=True):
            request.offer(driver)
        with CaptureQueriesContext(connection) as offers:
            deliver_pending()
        for request, driver in zip(requests, drivers, strict=True):
            request.reject(driver)
        with CaptureQueriesContext(connection) as endings:
            deliver_pending()
    # Endings carry no deadline: their batch reads no clock; offers read it once.
    assert len(offers.captured_queries) == len(endings.captured_queries) + 1


@pytest.mark.parametrize("transport", ["threads", "async"])
def test_a_batch_that_outlasts_its_timeout_is_a_clear_error(fake, transport):
    from django_assignment_timeout.notifiers.fcm import concurrent
    from tests.support.fcm_fake import driver_tokens

    fake.delay = 0.5
    notifier = load_notifier(
        "push", {"BACKEND": BACKEND, "OPTIONS": fake.notifier_options()}
    )
    app = notifier.app()
    [[token]] = driver_tokens(["tok"]).values()
    from django_assignment_timeout.notifiers.fcm.messages import build_message

    message = build_message(Notification(("tok",), "T", "B"), token, seconds_left=None)
    with pytest.raises(TimeoutError, match="not done in"):
        concurrent.TRANSPORTS[transport](app, [message], limit=1, timeout=0.05)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_forked_child_gets_its_own_loop_and_client(fake):
    from firebase_admin import messaging

    from django_assignment_timeout.notifiers.fcm import app as fcm_app
    from django_assignment_timeout.notifiers.fcm import concurrent

    notifier = load_notifier(
        "push",
        {"BACKEND": BACKEND, "OPTIONS": fake.notifier_options(transport="async")},
    )
    [first] = notifier.send([Notification(("a",), "T", "B")])
    loop = concurrent.event_loop()
    service = messaging._get_messaging_service(notifier.app())
    client = service._async_client._async_client
    # What a fork leaves: a loop and a client that belong to another process.
    concurrent._loop = (-1, loop)
    setattr(service, fcm_app._CLIENT_PID, -1)

    [second] = notifier.send([Notification(("b",), "T", "B")])

    assert (first.status, second.status) == (Status.SENT, Status.SENT)
    assert concurrent.event_loop() is not loop
    assert service._async_client._async_client is not client
    # The old loop and client are this test's to close (a real child's
    # copies are never run again).
    asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    deadline = time.monotonic() + 5
    while loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.close()  # its self-pipe would otherwise warn when collected, later
    gc.collect()


def test_a_wedged_transport_retries_the_chunk(fake, monkeypatch):
    from django_assignment_timeout.notifiers.fcm import backend

    def wedged(*args: Any, **kwargs: Any) -> Any:
        raise TimeoutError("FCM batch not done in 20s")

    monkeypatch.setitem(backend.TRANSPORTS, "threads", wedged)
    notifier = load_notifier(
        "push", {"BACKEND": BACKEND, "OPTIONS": fake.notifier_options()}
    )
    results = notifier.send([Notification(("a",), "T", "B")])
    assert [(r.status, r.code) for r in results] == [(Status.RETRY, "TIMEOUT")]
    assert "not done in" in results[0].error
