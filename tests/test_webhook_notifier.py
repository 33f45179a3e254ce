"""The webhook backend against a real HTTP receiver on 127.0.0.1.

The receiver verifies every request with the snippet docs/guides/webhook.rst
shows (``webhook-verify``), so the guide's verification code is what the
backend's signatures are checked by.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import sys
import time

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from django.test.utils import override_settings

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifiers import load_notifier
from django_assignment_timeout.notifiers.base import Notification, Status
from django_assignment_timeout.notifiers.retry_after import parse_retry_after
from django_assignment_timeout.notifiers.webhook import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tests.docs.blocks import block
from tests.support.polling import wait_for
from tests.support.ports import free_port
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db

BACKEND = "django_assignment_timeout.notifiers.webhook.WebhookNotifier"
SECRET = "whsec-test-" + "k" * 32
OLD_SECRET = "whsec-old-" + "o" * 32


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture
def verify_signature():
    """The guide's verification function, run as it is written."""
    namespace: dict[str, object] = {}
    exec(block("webhook-verify"), namespace)
    return namespace["verify_signature"]


@pytest.fixture
def hook(verify_signature):
    with WebhookReceiver(
        lambda headers, body: verify_signature(SECRET, headers, body)
    ) as receiver:
        yield receiver


def _options(hook, **options):
    return {"url": hook.url, "secret": SECRET, **options}


def _notifier(**options):
    return load_notifier("hook", {"BACKEND": BACKEND, "OPTIONS": options})


def _note(*recipients, **fields):
    fields.setdefault("event_id", 5)
    return Notification(
        recipients=recipients or ("auth.user:1",),
        title="T",
        body="B",
        data={"event": "offered"},
        collapse_key="c",
        **fields,
    )


def _relay_settings(options):
    return override_settings(
        ASSIGNMENT_TIMEOUT_NOTIFIERS={"hook": {"BACKEND": BACKEND, "OPTIONS": options}},
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF=0.01,
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX=0.02,
    )


# -- the guide's blocks -------------------------------------------------------


def test_the_guides_settings_deliver_an_offer_its_receiver_verifies(
    hook, monkeypatch, stock_request, driver
):
    monkeypatch.setenv("ASSIGNMENT_WEBHOOK_SECRET", SECRET)
    text = block("webhook-settings")
    url = '"https://dispatch.example.com/hooks/assignments"'
    assert text.count(url) == 1
    values: dict[str, object] = {}
    exec(text.replace(url, repr(hook.url)), values)
    with override_settings(
        ASSIGNMENT_TIMEOUT_NOTIFIERS=values["ASSIGNMENT_TIMEOUT_NOTIFIERS"]
    ):
        event = stock_request.offer(driver)
        before = time.time()
        assert deliver_pending().delivered == 1
    [arrival] = hook.requests
    assert arrival.verified
    assert arrival.path == "/hooks/assignments"
    assert arrival.headers["Content-Type"] == "application/json"
    assert before - 2 <= int(arrival.headers[TIMESTAMP_HEADER]) <= time.time()
    sent = json.loads(arrival.body)
    assert sent["event_id"] == event.pk
    assert sent["recipients"] == [f"testapp.driver:{driver.pk}"]
    assert sent["title"] == "New assignment"
    assert sent["data"]["event"] == "offered"
    assert sent["collapse_key"] == f"testapp.stockrequest:{stock_request.pk}:1"
    # The guide's example body names exactly the fields that are sent.
    example = json.loads(block("webhook-body"))
    assert sorted(example) == sorted(sent)
    assert sorted(example["data"]) == sorted(sent["data"])
    assert AssignmentEvent.objects.get().delivery_state == DeliveryState.DELIVERED


def test_the_verifier_refuses_a_changed_body_a_wrong_key_and_an_old_request(
    hook, verify_signature
):
    [result] = _notifier(**_options(hook)).send([_note()])
    assert result.status == Status.SENT
    [arrival] = hook.requests
    headers, body = arrival.headers, arrival.body
    signed_at = int(headers[TIMESTAMP_HEADER])
    assert verify_signature(SECRET, headers, body)  # the control
    assert not verify_signature(SECRET, headers, body.replace(b'"T"', b'"X"'))
    assert not verify_signature(OLD_SECRET, headers, body)
    assert not verify_signature(SECRET, headers, body, now=signed_at + 301)
    assert verify_signature(SECRET, headers, body, now=signed_at + 299)
    assert not verify_signature(SECRET, {**headers, TIMESTAMP_HEADER: "x"}, body)
    assert not verify_signature(SECRET, {}, body)


def test_while_keys_rotate_each_signs_and_either_verifies(hook, verify_signature):
    _notifier(**_options(hook, secret=[OLD_SECRET, SECRET])).send([_note()])
    [arrival] = hook.requests
    assert arrival.headers[SIGNATURE_HEADER].count("v1=") == 2
    assert verify_signature(SECRET, arrival.headers, arrival.body)
    assert verify_signature(OLD_SECRET, arrival.headers, arrival.body)


def test_the_guides_django_view_accepts_a_signed_request_and_refuses_others(
    hook, tmp_path, monkeypatch, settings
):
    package = tmp_path / "hooks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "signing.py").write_text(block("webhook-verify"))
    (package / "views.py").write_text(block("webhook-view"))
    (package / "inbox.py").write_text(
        "received = []\n\n\ndef receive(delivery_id, notification):\n"
        "    received.append((delivery_id, notification))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "hooks" or m.startswith("hooks.")]:
        monkeypatch.delitem(sys.modules, name)
    from hooks import inbox, views  # type: ignore[import-not-found]

    settings.ASSIGNMENT_WEBHOOK_SECRET = SECRET
    _notifier(**_options(hook)).send([_note()])
    [arrival] = hook.requests

    def post(body, headers):
        meta = {
            f"HTTP_{k.upper().replace('-', '_')}": v
            for k, v in headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        request = RequestFactory().post(
            "/hooks/assignments", body, content_type="application/json", **meta
        )
        return views.assignment_hook(request)

    assert post(arrival.body, arrival.headers).status_code == 204
    assert inbox.received == [(arrival.headers[ID_HEADER], json.loads(arrival.body))]
    assert post(arrival.body + b" ", arrival.headers).status_code == 403
    assert len(inbox.received) == 1


# -- answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (200, Status.SENT),
        (202, Status.SENT),
        (204, Status.SENT),
        (400, Status.FAILED),
        (401, Status.FAILED),
        (404, Status.FAILED),
        (410, Status.FAILED),
        (422, Status.FAILED),
        (408, Status.RETRY),
        (429, Status.RETRY),
        (500, Status.RETRY),
        (502, Status.RETRY),
        (503, Status.RETRY),
    ],
)
def test_each_answer_maps_to_a_status_for_every_recipient(hook, code, status):
    hook.answer(code)
    results = _notifier(**_options(hook)).send([_note("auth.user:1", "auth.user:2")])
    assert [(r.recipient, r.status) for r in results] == [
        ("auth.user:1", status),
        ("auth.user:2", status),
    ]
    if status != Status.SENT:
        assert {r.error for r in results} == {f"HTTP {code}"}
        assert {r.code for r in results} == {str(code)}


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(hook, code):
    hook.answer(code, {"Location": hook.url + "/elsewhere"})
    [result] = _notifier(**_options(hook)).send([_note()])
    assert result.status == Status.FAILED
    assert "redirects are not followed" in result.error
    assert len(hook.requests) == 1


def test_retry_after_in_seconds_or_as_a_date_is_passed_on(hook):
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    hook.answer(429, {"Retry-After": "7"})
    hook.answer(503, {"Retry-After": later})
    hook.answer(503, {"Retry-After": "soon"})
    notifier = _notifier(**_options(hook))
    # One call each: after a 429 the rest of a call's batch is not posted.
    results = [r for _ in range(3) for r in notifier.send([_note()])]
    assert results[0].retry_after == 7.0
    assert 110 <= (results[1].retry_after or 0) <= 120
    assert results[2].retry_after is None  # unreadable: the relay's backoff applies


def test_parse_retry_after():
    assert parse_retry_after(None) is None
    assert parse_retry_after("  ") is None
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("inf") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10.0
    # "-0000" parses without a zone: it is read as GMT.
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", now=1445412470) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490) == 0.0


def test_a_slow_receiver_times_out_and_is_retried(hook):
    hook.delay(1.0)
    [result] = _notifier(**_options(hook, timeout=0.2)).send([_note()])
    assert (result.status, result.code) == (Status.RETRY, "TIMEOUT")


def test_after_a_timeout_or_a_429_the_rest_of_the_batch_waits_unsent(hook):
    hook.delay(1.0)
    notifier = _notifier(**_options(hook, timeout=0.2))
    results = notifier.send([_note(event_id=1), _note(event_id=2), _note(event_id=3)])
    assert {(r.status, r.code) for r in results} == {(Status.RETRY, "TIMEOUT")}
    assert len(results) == 3
    assert len(hook.requests) == 1
    hook.delay(0)
    hook.answer(429, {"Retry-After": "30"})
    results = notifier.send([_note(event_id=1), _note(event_id=2)])
    assert [(r.status, r.retry_after) for r in results] == [(Status.RETRY, 30.0)] * 2
    assert len(hook.requests) == 2


def test_a_5xx_is_about_one_notification_and_the_rest_are_posted(hook):
    """The control: a server error does not stop the batch."""
    hook.answer(500)
    results = _notifier(**_options(hook)).send([_note(event_id=1), _note(event_id=2)])
    assert [r.status for r in results] == [Status.RETRY, Status.SENT]
    assert len(hook.requests) == 2


def test_no_receiver_is_a_retry_and_the_error_keeps_secrets_out(caplog):
    url = f"http://127.0.0.1:{free_port()}/hooks?token=query-secret"
    notifier = _notifier(
        url=url, secret=SECRET, headers={"Authorization": "Bearer header-secret"}
    )
    with caplog.at_level(logging.DEBUG, logger="django_assignment_timeout"):
        [result] = notifier.send([_note()])
    assert (result.status, result.code) == (Status.RETRY, "CONNECTION")
    assert "could not reach http://127.0.0.1:" in result.error
    shown = result.error + caplog.text
    for secret in (SECRET, "query-secret", "header-secret"):
        assert secret not in shown


def test_a_password_in_the_url_is_never_shown(caplog):
    url = f"http://me:short-secret@127.0.0.1:{free_port()}/hooks"
    with caplog.at_level(logging.DEBUG, logger="django_assignment_timeout"):
        [result] = _notifier(url=url, secret=SECRET).send([_note()])
    assert result.status == Status.RETRY
    assert "short-secret" not in result.error + caplog.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:port/h", "http://me:pw@h:x/h"])
def test_a_url_http_client_refuses_is_a_retry_named_by_its_host(url, caplog):
    with caplog.at_level(logging.DEBUG, logger="django_assignment_timeout"):
        [result] = _notifier(url=url, secret=SECRET).send([_note()])
    assert (result.status, result.code) == (Status.RETRY, "INVALID_URL")
    assert result.error.startswith("invalid url for http://")
    assert ":pw" not in result.error + caplog.text


def test_a_notification_without_recipients_is_not_posted(hook):
    notifier = _notifier(**_options(hook))
    assert notifier.send([Notification(recipients=(), title="T", body="B")]) == []
    assert hook.requests == []


def test_the_id_is_the_same_on_every_retry_and_extra_headers_are_sent(hook):
    notifier = _notifier(**_options(hook, headers={"Authorization": "Bearer abc"}))
    notifier.send([_note()])
    notifier.send([_note()])
    notifier.send([_note(event_id=6)])
    first, again, other = hook.requests
    assert first.headers[ID_HEADER] == again.headers[ID_HEADER]
    assert other.headers[ID_HEADER] != first.headers[ID_HEADER]  # the control
    assert first.headers["Authorization"] == "Bearer abc"


# -- the relay honours Retry-After ----------------------------------------------


def _deliver_until_delivered(timeout):
    def delivered():
        deliver_pending()
        return AssignmentEvent.objects.get().delivery_state == DeliveryState.DELIVERED

    wait_for(delivered, timeout, "the event to be delivered", interval=0.05)


def test_a_429_with_retry_after_waits_at_least_that_long(hook, stock_request, driver):
    hook.answer(429, {"Retry-After": "2"})
    with _relay_settings(_options(hook)):
        stock_request.offer(driver)
        assert deliver_pending().retried == 1
        # Due again only after the wait: a run now sends nothing.
        assert deliver_pending().delivered == 0
        assert len(hook.requests) == 1
        _deliver_until_delivered(timeout=10)
    refused, accepted = hook.requests
    assert accepted.at - refused.at >= 2.0
    assert accepted.verified


def test_without_retry_after_the_relays_short_backoff_applies(
    hook, stock_request, driver
):
    """The control of the test above: the same refusal, no Retry-After."""
    hook.answer(429)
    with _relay_settings(_options(hook)):
        stock_request.offer(driver)
        assert deliver_pending().retried == 1
        _deliver_until_delivered(timeout=10)
    refused, accepted = hook.requests
    assert accepted.at - refused.at < 1.0


def test_a_4xx_kills_the_event_with_its_status(hook, stock_request, driver):
    hook.answer(422)
    with _relay_settings(_options(hook)):
        stock_request.offer(driver)
        assert deliver_pending().dead == 1
    event = AssignmentEvent.objects.get()
    assert event.delivery_state == DeliveryState.DEAD
    assert "HTTP 422" in event.last_error


# -- checks -------------------------------------------------------------------


def _messages(**options):
    return _notifier(**options).check()


def _ids(**options):
    return [m.id for m in _messages(**options)]


def test_a_sound_configuration_passes_every_check():
    good = {"url": "https://example.com/hooks", "secret": SECRET}
    assert _ids(**good) == []
    assert _ids(url="http://127.0.0.1:8000/h", secret=[SECRET, OLD_SECRET]) == []
    assert _ids(**good, timeout=2.5, headers={"Authorization": "Bearer x"}) == []


@pytest.mark.parametrize(
    ("options", "check_id"),
    [
        ({"secret": SECRET}, "E085"),
        ({"url": "ftp://example.com/h", "secret": SECRET}, "E085"),
        ({"url": "https:///no-host", "secret": SECRET}, "E085"),
        ({"url": 42, "secret": SECRET}, "E085"),
        ({"url": "http://127.0.0.1:99999/h", "secret": SECRET}, "E085"),
        ({"url": "http://127.0.0.1:port/h", "secret": SECRET}, "E085"),
        ({"url": "https://me:short-secret@example.com/h", "secret": SECRET}, "E085"),
        ({"url": "http://example.com/h", "secret": SECRET}, "W085"),
        ({"url": "https://example.com/h"}, "E086"),
        ({"url": "https://example.com/h", "secret": ""}, "E086"),
        ({"url": "https://example.com/h", "secret": [SECRET, ""]}, "E086"),
        ({"url": "https://example.com/h", "secret": b"bytes"}, "E086"),
        ({"url": "https://example.com/h", "secret": "short-secret"}, "W086"),
        ({"url": "https://example.com/h", "secret": SECRET, "timeout": 0}, "E087"),
        ({"url": "https://example.com/h", "secret": SECRET, "timeout": "9"}, "E087"),
        ({"url": "https://example.com/h", "secret": SECRET, "headers": []}, "E088"),
        (
            {"url": "https://example.com/h", "secret": SECRET, "headers": {"A": 1}},
            "E088",
        ),
        (
            {
                "url": "https://example.com/h",
                "secret": SECRET,
                "headers": {SIGNATURE_HEADER.lower(): "forged"},
            },
            "E088",
        ),
        ({"url": "https://example.com/h", "secret": SECRET, "key": "x"}, "E031"),
    ],
)
def test_each_mistake_has_its_check_and_no_message_shows_the_secret(options, check_id):
    messages = _messages(**options)
    assert f"assignment_timeout.{check_id}" in [m.id for m in messages]
    for message in messages:
        assert "short-secret" not in f"{message.msg} {message.hint}"
        assert SECRET not in f"{message.msg} {message.hint}"


def test_manage_py_check_reports_the_webhook_backend():
    config = {"BACKEND": BACKEND, "OPTIONS": {"url": "https://example.com/h"}}
    with (
        override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS={"hook": config}),
        pytest.raises(Exception) as raised,
    ):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    assert "assignment_timeout.E086" in str(raised.value)
