"""Helpers shared by the example's process-starting tests.

The example is its own project, tested in its own pytest process: it keeps
these few lines rather than importing the library's ``tests`` package.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], Any],
    seconds: float,
    what: str,
    details: Callable[[], str] = str,
    *,
    interval: float = 0.25,
) -> Any:
    """Poll ``condition`` until truthy; after ``seconds``, fail with ``details()``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}\n{details()}")
