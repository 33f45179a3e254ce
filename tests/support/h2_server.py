"""Serve one HTTP/2 connection (cleartext, prior knowledge) with the ``h2`` library.

FCM's real endpoint speaks HTTP/2, over which the async SDK multiplexes all
its sends on one connection. The fake FCM server hands a connection that
opens with the HTTP/2 preface to :func:`serve_h2`: each stream is answered
in a thread of its own (so a modelled latency overlaps, as it does at FCM),
and one lock serialises the connection's state and writes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import h2.exceptions

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["H2_PREFACE", "serve_h2"]

#: What an HTTP/2 client with prior knowledge sends first.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def serve_h2(
    sock: socket.socket,
    answer: Callable[
        [str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]
    ],
) -> None:
    """Serve ``sock`` until the client closes it.

    ``answer(method, path, headers, body)`` returns ``(status, headers, body)``.
    """
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    )
    lock = threading.Lock()
    pending: dict[int, tuple[dict[str, str], bytearray]] = {}
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    def respond(stream_id: int, headers: dict[str, str], body: bytes) -> None:
        status, out_headers, out = answer(
            headers.get(":method", ""), headers.get(":path", ""), headers, body
        )
        with lock, contextlib.suppress(h2.exceptions.H2Error, OSError):
            conn.send_headers(
                stream_id,
                [
                    (":status", str(status)),
                    ("content-length", str(len(out))),
                    *out_headers.items(),
                ],
            )
            # Answers are small: well under the client's window and frame size.
            conn.send_data(stream_id, out, end_stream=True)
            sock.sendall(conn.data_to_send())

    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        with lock:
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                return
            for event in events:
                if isinstance(event, h2.events.RequestReceived):
                    pending[event.stream_id] = (dict(event.headers), bytearray())
                elif isinstance(event, h2.events.DataReceived):
                    pending[event.stream_id][1].extend(event.data)
                    conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = pending.pop(event.stream_id)
                    threading.Thread(
                        target=respond,
                        args=(event.stream_id, headers, bytes(body)),
                        name=f"fake-fcm-h2-respond-{event.stream_id}",
                        daemon=True,
                    ).start()
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            with contextlib.suppress(OSError):
                sock.sendall(conn.data_to_send())
