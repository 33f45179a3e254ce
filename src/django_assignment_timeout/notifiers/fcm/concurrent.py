"""Sending many FCM messages at once: ``send_each_async`` on one event loop per process.

``send_each`` starts a thread per message (up to 500 per call); the async
API sends over one HTTP/2 connection (httpx) from a single thread. Its httpx
client is bound to the event loop it first ran on and can not cross loops,
so every send of the process runs on one loop, in a daemon thread started on
first use and reused across batches (and started anew in a forked child,
which inherits no threads). At most ``limit`` requests are in flight at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from typing import TYPE_CHECKING, Any

import google.auth.exceptions
from firebase_admin import exceptions as firebase_exceptions
from firebase_admin import messaging

if TYPE_CHECKING:
    from collections.abc import Sequence

    import firebase_admin

__all__ = ["event_loop", "send_concurrently"]

_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's sending loop (started on first use, in a daemon thread)."""
    global _loop
    with _lock:
        if _loop is None or _loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="assignment-timeout-fcm", daemon=True
            ).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def send_concurrently(
    app: firebase_admin.App,
    messages: Sequence[messaging.Message],
    *,
    limit: int,
    timeout: float,
) -> list[messaging.SendResponse]:
    """One response per message, at most ``limit`` in flight, in order.

    A failure that is not FCM's answer to one message (the token endpoint is
    down) is that message's response, as ``send_each`` would report it.
    Raises :class:`TimeoutError` when the whole batch took over ``timeout``.
    """
    future = asyncio.run_coroutine_threadsafe(
        _send_all(app, list(messages), limit), event_loop()
    )
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError as err:
        future.cancel()
        raise TimeoutError(f"FCM batch not done in {timeout:.0f}s") from err


async def _send_all(
    app: firebase_admin.App, messages: list[messaging.Message], limit: int
) -> list[messaging.SendResponse]:
    gate = asyncio.Semaphore(limit)

    async def send(message: messaging.Message) -> messaging.SendResponse:
        async with gate:
            try:
                batch = await messaging.send_each_async([message], app=app)
            except firebase_exceptions.FirebaseError as err:
                if isinstance(err.cause, google.auth.exceptions.GoogleAuthError):
                    # No token: every message would fail alike; the caller
                    # says so once for the whole batch.
                    raise
                return _failed(err)
        return batch.responses[0]  # type: ignore[no-any-return]

    return list(await asyncio.gather(*(send(m) for m in messages)))


def _failed(err: Exception) -> Any:
    return messaging.SendResponse(None, err)
