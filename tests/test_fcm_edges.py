"""The FCM backend at its edges, with the real firebase-admin SDK.

Credentials (application default, a credentials object, a key without a
project id), the transport it tunes, tokens a resolver gets wrong, and what
the SDK makes of answers FCM rarely gives: errors with no FCM error code,
Retry-After as an HTTP date, a proxy's HTML page, a body that is not a JSON
object, a token that can not be refreshed mid-call, a connection refused.
The fake FCM server (tests/support/fcm_fake.py) plays Google; a bare local server
plays the odd upstream where the fake only speaks proper FCM.
"""

from __future__ import annotations

import email.utils
import gc
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.notifiers import load_notifier
from django_assignment_timeout.notifiers.base import Notification, Status
from django_assignment_timeout.notifiers.fcm import (
    REAL_FCM_HOST,
    default_token_resolver,
)
from tests.support import fcm_fake

BACKEND = "django_assignment_timeout.notifiers.fcm.FCMNotifier"


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    # The project id must come from the key or the options, never the machine.
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "FIREBASE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def notifier(**options):
    return load_notifier("push", {"BACKEND": BACKEND, "OPTIONS": options})


def note(*recipients):
    return Notification(recipients=recipients, title="T", body="B", collapse_key="c")


# -- tokens -------------------------------------------------------------------


class WithTokens:
    def __init__(self, tokens):
        self.fcm_tokens = tokens


class WithTokenMethod:
    def fcm_tokens(self):
        return ["m1", "m2"]


class WithOneToken:
    fcm_token = "one"


class WithNoToken:
    fcm_token = ""


def test_default_resolver_reads_strings_lists_methods_and_single_tokens():
    listed, method = WithTokens(["a", "", None, 7, "b"]), WithTokenMethod()
    single, none, plain = WithOneToken(), WithNoToken(), object()
    tokens = default_token_resolver(["raw", listed, method, single, none, plain])
    assert tokens == {
        "raw": ["raw"],
        listed: ["a", "b"],  # blanks and non-strings dropped
        method: ["m1", "m2"],
        single: ["one"],
        none: [],
        plain: [],
    }


def test_tokens_a_resolver_gets_wrong_are_not_sent(fake):
    def resolver(recipients):
        return {"ravi": ["", None, 42, "good"], "sunil": [None, ""]}

    push = notifier(**fake.notifier_options(token_resolver=resolver))
    ravi, sunil = push.send([note("ravi", "sunil")])
    assert [m["token"] for m in fake.messages()] == ["good"]
    assert ravi.status == Status.SENT
    assert (sunil.status, sunil.error) == (Status.INVALID_RECIPIENT, "no device token")
    assert (ravi.code, sunil.code) == ("", "NO_TOKEN")


# -- credentials and the app ------------------------------------------------------


def test_application_default_credentials(fake, tmp_path, monkeypatch):
    key = tmp_path / "service-account.json"
    key.write_text(json.dumps(fake.credentials_info()))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    options = fake.notifier_options()
    del options["credentials"]
    push = notifier(**options)
    assert push.check() == []
    [result] = push.send([note("tok")])
    assert result.status == Status.SENT
    [request] = fake.sends()
    assert request["authorization"] == f"Bearer {fcm_fake.ACCESS_TOKEN}"
    assert request["path"] == f"/v1/projects/{fcm_fake.PROJECT}/messages:send"


def test_a_credentials_object_is_used_as_it_is(fake):
    from firebase_admin import credentials

    cred = credentials.Certificate(fake.credentials_info())
    push = notifier(**fake.notifier_options(credentials=cred))
    assert push.check() == []
    assert [r.status for r in push.send([note("tok")])] == [Status.SENT]
    # The app is built once and reused by later sends.
    app = push.app()
    assert [r.status for r in push.send([note("tok")])] == [Status.SENT]
    assert push.app() is app
    assert len(fake.sends()) == 2


def test_a_key_without_project_id_needs_the_project_id_option(fake):
    info = fake.credentials_info()
    del info["project_id"]
    with pytest.raises(
        ConfigurationError, match=r"Notifier 'push' \(FCM\).*[Pp]roject"
    ):
        notifier(**fake.notifier_options(credentials=info)).app()

    push = notifier(**fake.notifier_options(credentials=info, project_id="gts-prod"))
    assert [r.status for r in push.send([note("tok")])] == [Status.SENT]
    assert fake.sends()[0]["path"] == "/v1/projects/gts-prod/messages:send"


def test_a_readable_key_file_passes_the_check_and_a_corrupt_one_does_not(
    fake, tmp_path
):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(fake.credentials_info()))
    bad.write_text("{not json")
    assert notifier(credentials=str(good)).check() == []
    [error] = notifier(credentials=str(bad)).check()
    assert error.id == "assignment_timeout.E035"
    assert "JSONDecodeError" in error.msg
    assert "not json" not in error.msg  # the file's content is never echoed


def test_against_real_fcm_the_sdk_does_not_retry_inside_the_call(fake):
    options = fake.notifier_options()
    del options["fcm_url"]
    from firebase_admin import messaging

    app = notifier(**options).app()
    session = messaging._get_messaging_service(app)._client.session
    retry = session.get_adapter(
        f"{REAL_FCM_HOST}/v1/projects/p/messages:send"
    ).max_retries
    # 500/503 are the relay's to retry (durably, with backoff), not the SDK's.
    assert (retry.status, retry.connect, retry.read) == (0, 1, 1)


# -- answers ------------------------------------------------------------------


def test_a_message_the_sdk_refuses_to_encode_fails_without_a_request(fake):
    # android_priority is flagged by check E038; sent anyway, it fails for good.
    push = notifier(**fake.notifier_options(android_priority="urgent"))
    [result] = push.send([note("tok")])
    assert result.status == Status.FAILED
    assert result.error.startswith("invalid message:")
    assert fake.sends() == []


@pytest.mark.parametrize(
    ("http_status", "grpc", "status"),
    [(403, "PERMISSION_DENIED", Status.FAILED), (404, "NOT_FOUND", Status.FAILED)],
)
def test_an_error_without_an_fcm_code_is_named_by_its_status(
    fake, monkeypatch, http_status, grpc, status
):
    # No FcmError detail (as from a Google front end): the gRPC status names it.
    detail = [{"@type": "type.googleapis.com/google.rpc.Help", "links": []}]
    monkeypatch.setitem(
        fcm_fake.ERRORS, "BARE", (http_status, grpc, "Refused.", detail, {})
    )
    fake.fail("tok", "BARE")
    [result] = notifier(**fake.notifier_options()).send([note("tok")])
    assert result.status == status
    assert result.error.startswith(f"{grpc}: ")


def test_retry_after_as_an_http_date_or_garbage(fake, monkeypatch):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    for name, header in (("DATED", when), ("GARBLED", "soon")):
        monkeypatch.setitem(
            fcm_fake.ERRORS,
            name,
            (503, "UNAVAILABLE", "Busy.", [], {"Retry-After": header}),
        )
    fake.fail("dated", "DATED")
    fake.fail("garbled", "GARBLED")
    dated, garbled = notifier(**fake.notifier_options()).send(
        [note("dated"), note("garbled")]
    )
    assert dated.status == garbled.status == Status.RETRY
    assert 25 <= dated.retry_after <= 31
    assert garbled.retry_after is None


def test_fcm_unreachable_is_a_retry(fake):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once it is closed
    url = f"http://127.0.0.1:{closed}/v1/projects/{{0}}/messages:send"
    [result] = notifier(**fake.notifier_options(fcm_url=url)).send([note("tok")])
    assert result.status == Status.RETRY
    assert result.retry_after is None
    assert result.error.startswith("UNAVAILABLE: ")


@pytest.mark.parametrize("transport", ["threads", "async"])
# The SDK's async auth flow refreshes through a requests session it never
# closes: collected below, inside this test, where its warning is expected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_credentials_refused_mid_call_retry_every_message(fake, transport):
    push = notifier(**fake.notifier_options(transport=transport))
    assert [r.status for r in push.send([note("tok")])] == [Status.SENT]
    # FCM now answers 401; the SDK asks for a new token and is refused.
    fake.fail("a", "THIRD_PARTY_AUTH_ERROR", times=None)
    fake.fail("b", "THIRD_PARTY_AUTH_ERROR", times=None)
    fake.refuse_tokens = True
    results = push.send([note("a"), note("b")])
    assert [r.status for r in results] == [Status.RETRY, Status.RETRY]
    assert all(
        r.error.startswith("FCM authentication failed (RefreshError)") for r in results
    )
    gc.collect()


class OddUpstream:
    """A local HTTP server that answers every POST with one scripted reply."""

    def __init__(self, status, body, content_type, headers=None):
        reply = (status, body.encode(), content_type, headers or {})

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code, data, kind, extra = reply
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        host, port = self.server.server_address
        return f"http://{host}:{port}/v1/projects/{{0}}/messages:send"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_proxys_html_error_page_is_a_retry(fake):
    page = "<html><body>502 Bad Gateway</body></html>"
    with OddUpstream(502, page, "text/html", {"Retry-After": "3"}) as url:
        [result] = notifier(**fake.notifier_options(fcm_url=url)).send([note("tok")])
    assert result.status == Status.RETRY
    assert result.retry_after == 3.0
    assert result.error.startswith("UNKNOWN: ")


def test_a_success_that_is_not_a_json_object_is_a_retry(fake):
    with OddUpstream(200, '["not", "an", "object"]', "application/json") as url:
        results = notifier(**fake.notifier_options(fcm_url=url)).send(
            [note("a"), note("b")]
        )
    assert [r.status for r in results] == [Status.RETRY, Status.RETRY]
    # Each message's answer is its own (sent concurrently, not as one call).
    assert all(r.error.startswith("UNKNOWN: ") for r in results)


def test_a_key_file_given_as_a_path_object_is_checked_and_sends(fake, tmp_path):
    # settings.py writes BASE_DIR / "key.json": a pathlib.Path, not a str.
    key = tmp_path / "key.json"
    key.write_text(json.dumps(fake.credentials_info()))
    push = notifier(**{**fake.notifier_options(), "credentials": key})
    assert push.check() == []
    assert [r.status for r in push.send([note("tok")])] == [Status.SENT]
    [error] = notifier(credentials=tmp_path / "missing.json").check()
    assert error.id == "assignment_timeout.E035"
