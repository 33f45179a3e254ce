"""Deliver the ``--loop`` helper's stop signal at every point of its wait.

    python -m tests.support.stop_anywhere <points>

For point 1, 2, ... ``points``: runs ``run_until_stopped`` and, from the end
of its first tick on, calls the installed SIGTERM handler at that traced
line or call (as a real signal would, between two bytecodes), then requires
the loop to return having stopped on SIGTERM and restored the default
handler. Prints ``returned <point>`` after each, so a hang shows where.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any


def stop_at(point: int) -> None:
    from django_assignment_timeout.management.loop import run_until_stopped

    seen, armed = 0, False
    stopped: list[int] = []

    def fire_at_point(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal seen
        if armed and event in ("call", "line"):
            seen += 1
            if seen == point:
                sys.settrace(None)
                handler = signal.getsignal(signal.SIGTERM)
                assert callable(handler), handler
                handler(signal.SIGTERM, frame)
        return fire_at_point

    def tick() -> bool:
        nonlocal armed
        armed = True  # from the end of the first tick on
        return False

    sys.settrace(fire_at_point)
    run_until_stopped(tick, 0.01, on_error=print, on_stop=stopped.append)
    sys.settrace(None)
    assert stopped == [signal.SIGTERM], (point, stopped)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, point


def main(points: int) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        }
    )
    django.setup()
    for point in range(1, points + 1):
        stop_at(point)
        print("returned", point, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
