"""The ``--loop`` both management commands share: tick until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def run_until_stopped(
    tick: Callable[[], bool],
    interval: float,
    *,
    on_error: Callable[[Exception], None],
    on_stop: Callable[[int], None] | None = None,
) -> None:
    """Call ``tick`` every ``interval`` seconds until SIGTERM or SIGINT.

    ``tick`` returns True when more work is waiting; the next tick then runs
    at once instead of after the interval. A signal lets the running tick
    finish (a batch is never cut in half), then the loop returns. A tick that
    raises goes to ``on_error`` and the loop goes on: a database restart or a
    lost connection must not kill a long-running process.
    """
    from django.db import close_old_connections

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        if on_stop is not None:
            on_stop(signum)
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while not stop.is_set():
            close_old_connections()
            try:
                more = tick()
            except Exception as err:
                on_error(err)
                more = False
            if not more:
                stop.wait(interval)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        close_old_connections()
