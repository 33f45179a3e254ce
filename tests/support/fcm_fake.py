"""A local fake of the FCM HTTP v1 API and of Google's OAuth token endpoint.

The real firebase-admin SDK talks to it over HTTP on 127.0.0.1, so tests
exercise the SDK's own request building, auth and error parsing. It records
every request and answers with scripted errors in FCM's real error bodies.

In a test (a thread in the same process)::

    with FakeFCM() as fake:
        fake.fail("token-1", "UNREGISTERED")       # next send to token-1 fails
        options = fake.notifier_options()            # FCM backend OPTIONS
        ...
        fake.messages()                              # the JSON bodies sent

For another process (a Celery worker, a relay subprocess)::

    python -m tests.support.fcm_fake --port 8765 --credentials /tmp/fake-sa.json

then give the FCM backend ``OPTIONS = {"credentials": "/tmp/fake-sa.json",
"fcm_url": "http://127.0.0.1:8765/v1/projects/{0}/messages:send"}``. The
service-account file's ``token_uri`` points at the fake, whose token endpoint
hands out a fixed access token. ``GET /_requests`` returns the recorded
requests as JSON, ``POST /_script`` takes ``{"token": ..., "error": ...,
"times": n}``, ``POST /_delay`` takes ``{"seconds": s}`` (the modelled
latency of every later send), ``POST /_reset`` forgets everything. Set ``NO_PROXY=127.0.0.1``
if the environment has an HTTP proxy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    from tests.support.h2_server import H2_PREFACE, serve_h2
except (
    ModuleNotFoundError
):  # run as a file (python .../fcm_fake.py): its folder is on sys.path
    from h2_server import H2_PREFACE, serve_h2  # type: ignore[no-redef]

PROJECT = "fake-project"
ACCESS_TOKEN = "fake-access-token"
FCM_PATH = "/v1/projects/{0}/messages:send"

_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

#: Scriptable errors: name -> (HTTP status, gRPC status, message, details, headers).
ERRORS: dict[str, tuple[int, str, str, list[dict[str, Any]], dict[str, str]]] = {
    "UNREGISTERED": (
        404,
        "NOT_FOUND",
        "Requested entity was not found.",
        [{"@type": _FCM_ERROR, "errorCode": "UNREGISTERED"}],
        {},
    ),
    "INVALID_TOKEN": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        [
            {"@type": _FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {
                "@type": _BAD_REQUEST,
                "fieldViolations": [
                    {
                        "field": "message.token",
                        "description": "Invalid registration token",
                    }
                ],
            },
        ],
        {},
    ),
    "INVALID_PAYLOAD": (
        400,
        "INVALID_ARGUMENT",
        "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
        [
            {"@type": _FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {
                "@type": _BAD_REQUEST,
                "fieldViolations": [
                    {
                        "field": "message.data[0].value",
                        "description": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
                    }
                ],
            },
        ],
        {},
    ),
    "SENDER_ID_MISMATCH": (
        403,
        "PERMISSION_DENIED",
        "SenderId mismatch",
        [{"@type": _FCM_ERROR, "errorCode": "SENDER_ID_MISMATCH"}],
        {},
    ),
    "QUOTA_EXCEEDED": (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute'.",
        [{"@type": _FCM_ERROR, "errorCode": "QUOTA_EXCEEDED"}],
        {"Retry-After": "7"},
    ),
    "UNAVAILABLE": (
        503,
        "UNAVAILABLE",
        "The service is currently unavailable.",
        [{"@type": _FCM_ERROR, "errorCode": "UNAVAILABLE"}],
        {},
    ),
    "INTERNAL": (
        500,
        "INTERNAL",
        "Internal error encountered.",
        [{"@type": _FCM_ERROR, "errorCode": "INTERNAL"}],
        {},
    ),
    "THIRD_PARTY_AUTH_ERROR": (
        401,
        "UNAUTHENTICATED",
        "Auth error from APNS or Web Push Service",
        [{"@type": _FCM_ERROR, "errorCode": "THIRD_PARTY_AUTH_ERROR"}],
        {},
    ),
}


@cache
def _private_key_pem() -> str:
    # A fresh key per process: the fake never checks signatures, but
    # google-auth must be able to sign the JWT it trades for a token.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_info(token_uri: str, project_id: str = PROJECT) -> dict[str, str]:
    """A service-account key whose ``token_uri`` is the fake's token endpoint."""
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fake-key-id",
        "private_key": _private_key_pem(),
        "client_email": f"relay@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


class FakeFCM:
    """The fake server: start it, script failures, read what was sent."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.token_requests = 0
        self._scripts: dict[str, list[str]] = {}
        self._sticky: dict[str, str] = {}
        #: Seconds each send waits before answering (slow-service tests).
        self.delay = 0.0
        #: When set, the token endpoint refuses to issue tokens.
        self.refuse_tokens = False
        #: Sends being answered now, and the most there have been at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> FakeFCM:
        """Listen on 127.0.0.1 (the port given, or an ephemeral one) in a thread."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        server = _Server(("127.0.0.1", self._port), Handler, bind_and_activate=False)
        server.daemon_threads = True
        # send_each opens up to 500 connections at once; the default backlog
        # of 5 would make the kernel drop SYNs and stall the client for 1s.
        server.request_queue_size = 1024
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; clients then get connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            # Kept-alive connections would otherwise go on being served.
            self._server.close_connections()
            self._server = None

    def __enter__(self) -> FakeFCM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration ------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the fake listens (or listened) on."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def fcm_url(self) -> str:
        """The FCM send URL template (``{0}`` is the project id) for the backend's ``fcm_url``."""
        return self.base_url + FCM_PATH

    def credentials_info(self) -> dict[str, str]:
        """Service-account key info whose token endpoint is this fake."""
        return service_account_info(self.base_url + "/token")

    def notifier_options(self, **extra: Any) -> dict[str, Any]:
        """OPTIONS for the FCM backend that point it at this fake."""
        return {
            "credentials": self.credentials_info(),
            "fcm_url": self.fcm_url,
            "http_timeout": 5,
            **extra,
        }

    def fail(self, token: str, error: str, times: int | None = 1) -> None:
        """Answer sends to ``token`` with ``error`` (a key of :data:`ERRORS`).

        ``times=None`` fails every send to it until :meth:`reset`.
        """
        if error not in ERRORS:
            raise ValueError(f"unknown error {error!r}; one of {sorted(ERRORS)}")
        with self._lock:
            if times is None:
                self._sticky[token] = error
            else:
                self._scripts.setdefault(token, []).extend([error] * times)

    def reset(self) -> None:
        """Forget recorded requests and scripts."""
        with self._lock:
            self.requests.clear()
            self._scripts.clear()
            self._sticky.clear()
            self.token_requests = 0
            self.max_in_flight = 0

    # -- reading ------------------------------------------------------------

    def sends(self) -> list[dict[str, Any]]:
        """Recorded send requests (with ``status`` answered and ``time`` received)."""
        with self._lock:
            return list(self.requests)

    def messages(self, status: int | None = 200) -> list[dict[str, Any]]:
        """The ``message`` objects of recorded sends (only those answered ``status``)."""
        return [
            r["body"]["message"]
            for r in self.sends()
            if status is None or r["status"] == status
        ]

    # -- answering ----------------------------------------------------------

    def _error_for(self, token: str | None) -> str | None:
        with self._lock:
            if token in self._sticky:
                return self._sticky[token]
            queue = self._scripts.get(token or "")
            if queue:
                return queue.pop(0)
        return None


class _Server(ThreadingHTTPServer):
    """Tracks open connections so that stopping really takes the service down."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeFCM
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle
        # and the client's delayed ACK add ~40 ms to every kept-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def _reply(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        fake = self.server_fake
        if self.path == "/_requests":
            self._reply(200, fake.sends())
        else:
            self._reply(
                404,
                {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}},
            )

    def do_POST(self) -> None:
        fake = self.server_fake
        raw = self._body()
        if self.path == "/token":
            fake.token_requests += 1
            if fake.refuse_tokens:
                self._reply(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Invalid JWT Signature.",
                    },
                )
            else:
                self._reply(
                    200,
                    {
                        "access_token": ACCESS_TOKEN,
                        "expires_in": 3600,
                        "token_type": "Bearer",
                    },
                )
            return
        if self.path == "/_script":
            spec = json.loads(raw or b"{}")
            fake.fail(spec["token"], spec["error"], spec.get("times", 1))
            self._reply(200, {})
            return
        if self.path == "/_delay":
            fake.delay = float(json.loads(raw or b"{}").get("seconds", 0.0))
            self._reply(200, {})
            return
        if self.path == "/_reset":
            fake.reset()
            self._reply(200, {})
            return
        if not (
            self.path.startswith("/v1/projects/")
            and self.path.endswith("/messages:send")
        ):
            self._reply(
                404,
                {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}},
            )
            return
        status, body_out, headers = answer_send(
            fake, self.path, self.headers.get("Authorization"), raw
        )
        self._reply(status, body_out, headers)

    def handle(self) -> None:
        # An HTTP/2 client with prior knowledge (the async SDK path against
        # this plaintext fake) opens with the connection preface.
        try:
            first = self.request.recv(len(H2_PREFACE), socket.MSG_PEEK)
        except OSError:
            return
        if first == H2_PREFACE:
            serve_h2(self.request, lambda *request: self._h2_answer(*request))
        else:
            super().handle()

    def _h2_answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method != "POST" or not path.endswith("/messages:send"):
            status, body, extra = 404, _error(404, "NOT_FOUND", "not found"), {}
        else:
            status, body, extra = answer_send(
                self.server_fake, path, headers.get("authorization"), raw
            )
        return (
            status,
            {"content-type": "application/json; charset=UTF-8", **extra},
            (json.dumps(body).encode()),
        )


def answer_send(
    fake: FakeFCM, path: str, authorization: str | None, raw: bytes
) -> tuple[int, Any, dict[str, str]]:
    """Answer one send (HTTP/1.1 or HTTP/2): record it, wait the latency, reply."""
    received = time.time()
    with fake._lock:
        fake.in_flight += 1
        fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
    try:
        answer = _judge_send(fake, path, authorization, raw, received)
        if fake.delay:
            time.sleep(fake.delay)
        return answer
    finally:
        with fake._lock:
            fake.in_flight -= 1


def _judge_send(
    fake: FakeFCM, path: str, authorization: str | None, raw: bytes, received: float
) -> tuple[int, Any, dict[str, str]]:
    try:
        body = json.loads(raw)
        message = body["message"]
    except (ValueError, KeyError, TypeError):
        return (
            400,
            _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
            {},
        )
    headers: dict[str, str] = {}
    if authorization != f"Bearer {ACCESS_TOKEN}":
        status = 401
        body_out = _error(
            401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
        )
    else:
        error = fake._error_for(message.get("token"))
        if error is None:
            project = path.split("/")[3]
            status = 200
            body_out = {"name": f"projects/{project}/messages/{time.time_ns()}"}
        else:
            status, grpc, text, details, headers = ERRORS[error]
            body_out = _error(status, grpc, text, details)
    # Recorded on arrival, as FCM would have accepted it: a client that
    # dies while waiting for the answer has still sent the message.
    with fake._lock:
        fake.requests.append(
            {
                "time": received,
                "path": path,
                "authorization": authorization,
                "body": body,
                "status": status,
            }
        )
    return status, body_out, headers


def _error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def driver_tokens(recipients: list[Any]) -> dict[Any, list[str]]:
    """A token resolver for tests: a model instance has one device, ``driver-<pk>``.

    A string recipient is its own token.
    """
    return {r: [r if isinstance(r, str) else f"driver-{r.pk}"] for r in recipients}


def main() -> None:
    """Run the fake in the foreground: ``python -m tests.support.fcm_fake --port N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--credentials", help="write a service-account JSON file here")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per send")
    args = parser.parse_args()
    fake = FakeFCM(args.port)
    fake.delay = args.delay
    fake.start()
    if args.credentials:
        with open(args.credentials, "w") as file:
            json.dump(fake.credentials_info(), file)
    print(f"listening on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
