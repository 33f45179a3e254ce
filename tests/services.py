"""Which local services are reachable, for skipping (or, in CI, failing) tests."""

from __future__ import annotations

import os
import socket
from functools import cache

SERVICES = {
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "postgresql": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
}


@cache
def reachable(name: str) -> bool:
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def required() -> bool:
    """CI sets REQUIRE_SERVICES=1: a missing service is then a failure, not a skip."""
    return os.environ.get("REQUIRE_SERVICES") == "1"


def database() -> str:
    return os.environ.get("TEST_DATABASE", "sqlite")
