"""Waiting for a condition another process or thread brings about."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    what: str = "",
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    After ``timeout`` seconds the predicate runs once more, so a condition
    that came true during the last sleep is not reported as a timeout; then
    an ``AssertionError`` names ``what`` was awaited. A predicate may itself
    assert (e.g. that the process it waits on is still alive) to fail early.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
