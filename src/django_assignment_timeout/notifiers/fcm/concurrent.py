"""Sending many FCM messages at once, at most ``limit`` in flight, no thread per message.

``send_each`` starts a thread per message (up to 500 per call). Two bounded
ways replace it, chosen by the backend's ``transport`` option:

* ``"threads"`` (:func:`send_pooled`, the default): ``messaging.send`` on a
  pool of ``limit`` threads kept for the process and reused across batches,
  over the SDK's pooled keep-alive connections;
* ``"async"`` (:func:`send_concurrently`): ``send_each_async`` over one
  HTTP/2 connection (httpx) on one event loop per process, in a daemon
  thread. An httpx client is bound to the loop it first ran on and can not
  cross loops, so every send of the process runs on that loop.

Both start anew in a forked child, which inherits no threads. Which is faster
was measured with ``bench/delivery.py`` (docs/explanation/benchmarks.rst).
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

__all__ = [
    "TRANSPORTS",
    "event_loop",
    "send_concurrently",
    "send_pooled",
    "thread_pool",
]

_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
_pools: dict[tuple[int, int], concurrent.futures.ThreadPoolExecutor] = {}


def thread_pool(limit: int) -> concurrent.futures.ThreadPoolExecutor:
    """This process's pool of ``limit`` sending threads (started on first use)."""
    with _lock:
        key = (os.getpid(), limit)
        if key not in _pools:
            _pools[key] = concurrent.futures.ThreadPoolExecutor(
                max_workers=limit, thread_name_prefix="assignment-timeout-fcm"
            )
        return _pools[key]


def send_pooled(
    app: firebase_admin.App,
    messages: Sequence[messaging.Message],
    *,
    limit: int,
    timeout: float,
) -> list[messaging.SendResponse]:
    """One response per message, sent by :func:`thread_pool`, in order.

    As :func:`send_concurrently`, but with ``messaging.send`` on reused threads.
    """

    def send(message: messaging.Message) -> messaging.SendResponse:
        try:
            name = messaging.send(message, app=app)
        except firebase_exceptions.FirebaseError as err:
            return _failed(err)
        except (google.auth.exceptions.GoogleAuthError, ValueError):
            # No token, or a message the SDK refuses to encode: the caller
            # answers for the whole chunk, as it does for send_each.
            raise
        except Exception as err:  # an answer the SDK can not read
            return _failed(
                firebase_exceptions.UnknownError(
                    f"Unknown error while making remote service calls: {err}",
                    cause=err,
                )
            )
        return messaging.SendResponse({"name": name}, None)

    try:
        return list(thread_pool(limit).map(send, messages, timeout=timeout))
    except concurrent.futures.TimeoutError as err:
        raise TimeoutError(f"FCM batch not done in {timeout:.0f}s") from err


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
        return batch.responses[0]

    return list(await asyncio.gather(*(send(m) for m in messages)))


def _failed(err: Exception) -> Any:
    return messaging.SendResponse(None, err)


#: The ways to send a chunk concurrently, by the backend's ``transport`` option.
TRANSPORTS = {"threads": send_pooled, "async": send_concurrently}
