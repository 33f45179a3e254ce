"""A real HTTP receiver on 127.0.0.1 for the webhook backend's tests.

It checks each request's signature with the function it is given (the tests
give it the one docs/guides/webhook.rst shows, so the guide's snippet is the
receiver), records what came, and answers as scripted::

    with WebhookReceiver(verify=lambda headers, body: ...) as hook:
        hook.answer(429, {"Retry-After": "2"})   # the next request gets this
        hook.delay(1.0)                           # wait before each answer
        ...                                       # POST to hook.url
        hook.requests                             # what arrived, oldest first

Unscripted, a request with a good signature gets ``204`` and one with a bad
signature ``403``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Verify = Callable[[Mapping[str, str], bytes], bool]


@dataclass
class Arrival:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    #: ``time.monotonic()`` when it arrived.
    at: float


class WebhookReceiver:
    """A threaded HTTP server; a context manager."""

    def __init__(self, verify: Verify) -> None:
        self.verify = verify
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._answers: list[tuple[int, dict[str, str]]] = []
        self._delay = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The URL to POST to."""
        return f"http://127.0.0.1:{self._server.server_port}/hooks/assignments"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def requests(self) -> list[Arrival]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._arrivals)

    def answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next unanswered request with ``status`` and ``headers``."""
        with self._lock:
            self._answers.append((status, dict(headers or {})))

    def delay(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each request."""
        self._delay = seconds

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                verified = bool(receiver.verify(self.headers, body))  # type: ignore[arg-type]
                with receiver._lock:
                    receiver._arrivals.append(
                        Arrival(
                            self.path,
                            dict(self.headers.items()),
                            body,
                            verified,
                            time.monotonic(),
                        )
                    )
                    scripted = receiver._answers.pop(0) if receiver._answers else None
                if receiver._delay:
                    time.sleep(receiver._delay)
                status, headers = scripted or ((204 if verified else 403), {})
                with contextlib.suppress(OSError):  # the client may have timed out
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests read .requests

        return Handler
