"""The FCM backend: the real firebase-admin SDK against the local fake FCM server."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.exceptions import ConfigurationError, MissingExtraError
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifiers import load_notifier
from django_assignment_timeout.notifiers.base import Notification, Status
from django_assignment_timeout.signals import fcm_token_invalid
from django_assignment_timeout.sweep import sweep
from tests.support.children import child_env, run_python
from tests.support.fcm_fake import FakeFCM, driver_tokens
from tests.support.polling import wait_for
from tests.testapp.data import due_offers
from tests.testapp.models import Driver, StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

BACKEND = "django_assignment_timeout.notifiers.fcm.FCMNotifier"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def _settings(fake, **options):
    config = {"BACKEND": BACKEND, "OPTIONS": fake.notifier_options(**options)}
    return override_settings(
        ASSIGNMENT_TIMEOUT_NOTIFIERS={"push": config},
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF=0.01,
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX=0.05,
    )


def _send(fake, *tokens, **options):
    notifier = load_notifier(
        "push", {"BACKEND": BACKEND, "OPTIONS": fake.notifier_options(**options)}
    )
    note = Notification(
        recipients=tuple(tokens), title="T", body="B", data={"k": "v"}, collapse_key="c"
    )
    return notifier.send([note])


def test_offer_push_has_the_exact_payload(fake, stock_request):
    driver = Driver.objects.create(name="Ravi")
    with _settings(fake, token_resolver="tests.support.fcm_fake.driver_tokens"):
        event = stock_request.offer(driver)
        assert deliver_pending().delivered == 1

    [request] = fake.sends()
    assert request["path"] == "/v1/projects/fake-project/messages:send"
    assert request["authorization"] == "Bearer fake-access-token"
    key = f"testapp.stockrequest:{stock_request.pk}:1"
    # The lifespan depends on the moment of sending (test_fcm_lifespan.py
    # checks its value); the rest is exact.
    android = request["body"]["message"]["android"]
    headers = request["body"]["message"]["apns"]["headers"]
    assert android.pop("ttl").endswith("s")
    assert int(headers.pop("apns-expiration")) == int(event.deadline.timestamp())
    assert request["body"] == {
        "message": {
            "token": f"driver-{driver.pk}",
            "notification": {
                "title": "New assignment",
                "body": f"You have been offered {stock_request}. Please accept or reject it.",
            },
            "data": {
                "assignment_type": "testapp.stockrequest",
                "assignment_id": str(stock_request.pk),
                "attempt": "1",
                "event": "offered",
                "event_id": str(event.pk),
            },
            "android": {
                "collapse_key": key,
                "priority": "high",
                "notification": {"tag": key},
            },
            "apns": {"headers": {"apns-collapse-id": key, "apns-priority": "10"}},
        }
    }


@pytest.mark.parametrize(
    ("error", "status", "signalled"),
    [
        ("UNREGISTERED", Status.INVALID_RECIPIENT, "UNREGISTERED"),
        ("SENDER_ID_MISMATCH", Status.INVALID_RECIPIENT, "SENDER_ID_MISMATCH"),
        ("INVALID_TOKEN", Status.INVALID_RECIPIENT, "INVALID_ARGUMENT"),
        ("INVALID_PAYLOAD", Status.FAILED, None),
        ("QUOTA_EXCEEDED", Status.RETRY, None),
        ("UNAVAILABLE", Status.RETRY, None),
        ("INTERNAL", Status.RETRY, None),
        ("THIRD_PARTY_AUTH_ERROR", Status.RETRY, None),
    ],
)
def test_each_fcm_error_maps_to_a_result(fake, error, status, signalled):
    seen = []

    def receiver(sender, token, recipient, error_code, notifier, **kwargs):
        seen.append((token, recipient, error_code, notifier))

    # google-auth answers any 401 by refreshing its token and re-sending
    # (twice), so an auth error is only an error if it persists.
    auth = error == "THIRD_PARTY_AUTH_ERROR"
    fcm_token_invalid.connect(receiver)
    try:
        fake.fail("tok-1", error, times=None if auth else 1)
        [result] = _send(fake, "tok-1")
    finally:
        fcm_token_invalid.disconnect(receiver)

    assert result.status == status
    code = error.replace("_TOKEN", "_ARGUMENT").replace("_PAYLOAD", "_ARGUMENT")
    assert result.error.startswith(code)
    # FCM's code, kept apart from the text (the metrics' "code" label).
    assert result.code == code
    # The SDK did not retry 500/503 inside the call: the relay owns retries.
    assert len(fake.sends()) == (3 if auth else 1)
    if signalled:
        assert seen == [("tok-1", "tok-1", signalled, "push")]
    else:
        assert seen == []
    if error == "QUOTA_EXCEEDED":
        assert result.retry_after == 7.0


def test_several_tokens_of_one_recipient_combine(fake):
    def resolver(recipients):
        return {r: ["a", "b"] for r in recipients}

    fake.fail("a", "UNREGISTERED")
    [result] = _send(fake, "ravi", token_resolver=resolver)
    assert result.status == Status.SENT  # one device still got it
    assert sorted(m["token"] for m in fake.messages(None)) == ["a", "b"]

    [nobody] = _send(fake, "ravi", token_resolver=lambda rs: {})
    assert nobody.status == Status.INVALID_RECIPIENT


def test_send_each_chunks_at_500(fake):
    tokens = [f"t{i}" for i in range(501)]
    results = _send(fake, *tokens)
    assert [r.status for r in results] == [Status.SENT] * 501
    assert len(fake.sends()) == 501


def test_token_endpoint_failure_is_a_clear_error_and_keeps_the_event(
    fake, stock_request
):
    driver = Driver.objects.create(name="Ravi")
    fake.refuse_tokens = True
    with _settings(fake, token_resolver="tests.support.fcm_fake.driver_tokens"):
        event = stock_request.offer(driver)
        result = deliver_pending()
    assert result.retried == 1
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.PENDING
    assert "FCM authentication failed (RefreshError)" in event.last_error
    assert "invalid_grant" in event.last_error
    assert fake.sends() == []


def test_bad_credentials_file_is_a_configuration_error(tmp_path):
    notifier = load_notifier(
        "push",
        {"BACKEND": BACKEND, "OPTIONS": {"credentials": str(tmp_path / "nope.json")}},
    )
    with pytest.raises(ConfigurationError, match="invalid credentials"):
        notifier.app()


def test_existing_app_by_name(fake):
    import firebase_admin
    from firebase_admin import credentials

    app = firebase_admin.initialize_app(
        credentials.Certificate(fake.credentials_info()), name="project-app"
    )
    try:
        [result] = _send(fake, "tok", app_name="project-app", credentials=None)
        assert result.status == Status.SENT
        with pytest.raises(ConfigurationError, match="no firebase app named"):
            _send(fake, "tok", app_name="missing", credentials=None)
    finally:
        firebase_admin.delete_app(app)


def test_checks_of_the_fcm_backend(tmp_path):
    def ids(options):
        notifier = load_notifier("push", {"BACKEND": BACKEND, "OPTIONS": options})
        return sorted(m.id for m in notifier.check())

    assert ids({"credentials": str(tmp_path / "missing.json")}) == [
        "assignment_timeout.E035"
    ]
    assert ids({"credentials": {}, "app_name": "x"}) == ["assignment_timeout.E035"]
    assert ids({"credentials": 5}) == ["assignment_timeout.E035"]
    assert ids({"token_resolver": "no.such.path"}) == ["assignment_timeout.E036"]
    assert ids({"token_resolver": 3}) == ["assignment_timeout.E036"]
    assert ids({"http_timeout": 0}) == ["assignment_timeout.E037"]
    assert ids({"target": "topic"}) == ["assignment_timeout.E038"]
    assert ids({"colour": "red"}) == ["assignment_timeout.E031"]
    assert ids({"target": "fid", "http_timeout": 3}) == []


def test_fid_target(fake):
    [result] = _send(fake, "install-1", target="fid")
    assert result.status == Status.SENT
    assert fake.messages()[0]["fid"] == "install-1"


def test_missing_extra_names_the_pip_command():
    done = run_python("-m", "tests.support.missing_fcm", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'django-assignment-timeout[fcm]'" in done.stdout
    assert MissingExtraError.__mro__[1] is ConfigurationError


def make_retries_due():
    """Move the backlog's next attempt (a backoff or a lease) into the past,
    on the database clock, instead of waiting for it."""
    AssignmentEvent.objects.undelivered().update(next_attempt_at=deadline_in(-1))


def test_fault_fcm_down_during_1000_expiries_then_every_event_exactly_once(fake):
    due_offers(1000)
    port = fake.port
    options = fake.notifier_options(
        token_resolver="tests.support.fcm_fake.driver_tokens"
    )
    # Google's token endpoint is another service: it stays up while FCM is down.
    tokens = FakeFCM().start()
    options["credentials"] = tokens.credentials_info()
    fake.stop()  # connection refused from here on
    with override_settings(
        ASSIGNMENT_TIMEOUT_NOTIFIERS={"push": {"BACKEND": BACKEND, "OPTIONS": options}},
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF=0.1,
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX=0.8,
        ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS=100,
        ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE=500,
    ):
        assert sweep().expired_count == 1000
        sample = AssignmentEvent.objects.filter(kind="expired").order_by("pk").first()
        delays = []

        def four_retries_seen():
            before = timezone.now()
            retried = deliver_pending().retried
            after = timezone.now()
            sample.refresh_from_db()
            if retried and sample.delivery_attempts > len(delays):
                # The retry was scheduled between before and after.
                delays.append(
                    (
                        (sample.next_attempt_at - after).total_seconds(),
                        (sample.next_attempt_at - before).total_seconds(),
                    )
                )
            make_retries_due()  # rather than wait out the backoff
            return len(delays) >= 4

        # An upper bound, left as soon as four retries are seen: on a loaded
        # machine one relay run over 1,000 refused sends takes seconds.
        wait_for(four_retries_seen, 90, "four retries of the sample event")
        assert AssignmentEvent.objects.filter(delivery_state="delivered").count() == 0

        back = FakeFCM(port).start()
        try:

            def all_delivered():
                if not AssignmentEvent.objects.undelivered().exists():
                    return True
                make_retries_due()
                deliver_pending()
                return False

            wait_for(all_delivered, 60, "every event delivered")
            messages = back.messages()
        finally:
            back.stop()
            tokens.stop()

    # Backoff visible: each retry waited longer (0.1 * 2**(n-1), equal jitter, cap 0.8).
    assert len(delays) == 4
    for n, (at_least, at_most) in enumerate(delays, start=1):
        base = min(0.8, 0.1 * 2 ** (n - 1))
        assert base / 2 <= at_most and at_least <= base
    # The fourth wait is longer than the first could ever be.
    assert delays[-1][0] > 0.1
    keys = Counter(m["android"]["collapse_key"] for m in messages)
    assert len(keys) == 1000  # 0 lost
    assert set(keys.values()) == {1}  # 0 duplicated
    assert AssignmentEvent.objects.filter(delivery_state="delivered").count() == 1000


def test_crash_relay_killed_mid_batch_redelivers_at_most_once(fake, children):
    due_offers(200)
    sweep()
    AssignmentEvent.objects.update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    fake.delay = 0.3  # a slow service: the batch is in flight when the relay dies
    relay_settings = {
        "ASSIGNMENT_TIMEOUT_NOTIFIERS": {
            "push": {
                "BACKEND": BACKEND,
                "OPTIONS": fake.notifier_options(
                    token_resolver="tests.support.fcm_fake.driver_tokens"
                ),
            }
        },
        "ASSIGNMENT_TIMEOUT_DELIVERY_LEASE": 1.0,
        "ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE": 50,
    }
    relay = children.django(
        "relay",
        "deliver_assignment_events",
        "--loop",
        "--interval",
        "0.1",
        settings=relay_settings,
    )
    # Kill once the second batch has reached the service but not been recorded.
    wait_for(
        lambda: len(fake.sends()) >= 60,
        30,
        "the relay to get going",
        interval=0.01,
    )
    relay.crash()
    sent_before = len(fake.sends())
    assert AssignmentEvent.objects.undelivered().count() == 150  # batch 2 unrecorded

    fake.delay = 0.0
    make_retries_due()  # the dead relay's lease runs out
    done = run_python(
        "-m",
        "django",
        "deliver_assignment_events",
        env=child_env(settings=relay_settings),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    assert AssignmentEvent.objects.undelivered().count() == 0
    keys = Counter(m["android"]["collapse_key"] for m in fake.messages())
    assert len(keys) == 200  # nothing lost
    duplicates = sum(count - 1 for count in keys.values())
    assert max(keys.values()) <= 2  # at most one duplicate per event per crash
    assert 0 < duplicates <= 50  # only the batch in flight was sent again
    assert sent_before >= 60


def test_sweep_command_with_fcm(fake, stock_request):
    driver = Driver.objects.create(name="Ravi")
    with _settings(fake, token_resolver=driver_tokens):
        stock_request.offer(driver)
        StockRequest.objects.update(assignment_expires_at=deadline_in(-1))
        call_command("expire_assignments", stdout=io.StringIO())
    # The offer had already ended when the relay ran: only its expiry is news.
    assert [m["data"]["event"] for m in fake.messages()] == ["expired"]
