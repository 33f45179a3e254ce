"""The ``--loop`` helper's signal handler must be safe wherever the signal lands.

A Python signal handler runs between two bytecodes of the main thread, which
may be holding any lock at that moment. A handler that takes a lock the loop
also takes (``threading.Event.set()`` while the loop sits in
``Event.wait()``) deadlocks there, and the process never exits on SIGTERM:
a race the four-sweeper test hit once under coverage. Instead of waiting for
that race, this test calls the installed handler at the 1st, 2nd, ... Nth
traced line or call after the first tick, i.e. at every point of the loop's
wait, and requires each run to return.
"""

from __future__ import annotations

import subprocess
import sys

POINTS = 80  # more than the traced events of one tick and wait

CHILD = """
import signal, sys
import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
)
django.setup()
from django_assignment_timeout.management.loop import run_until_stopped

for point in range(1, int(sys.argv[1]) + 1):
    seen, armed, stopped = 0, False, []

    def fire_at_point(frame, event, arg):
        global seen
        if armed and event in ("call", "line"):
            seen += 1
            if seen == point:
                sys.settrace(None)
                signal.getsignal(signal.SIGTERM)(signal.SIGTERM, frame)
        return fire_at_point

    def tick():
        global armed
        armed = True  # from the end of the first tick on
        return False

    sys.settrace(fire_at_point)
    run_until_stopped(tick, 0.01, on_error=print, on_stop=stopped.append)
    sys.settrace(None)
    assert stopped == [signal.SIGTERM], (point, stopped)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, point
    print("returned", point, flush=True)
"""


def test_the_stop_signal_can_land_anywhere_in_the_wait():
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(POINTS)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as hung:
        reached = (hung.stdout or b"").decode().split()[-1:] or ["none"]
        raise AssertionError(
            f"the loop hung on a stop signal; last point that returned: {reached[0]}"
        ) from None
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"returned {POINTS}" in done.stdout
