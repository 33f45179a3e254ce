"""The ``--loop`` helper's signal handler must be safe wherever the signal lands.

A Python signal handler runs between two bytecodes of the main thread, which
may be holding any lock at that moment. A handler that takes a lock the loop
also takes (``threading.Event.set()`` while the loop sits in
``Event.wait()``) deadlocks there, and the process never exits on SIGTERM:
a race the four-sweeper test hit once under coverage. Instead of waiting for
that race, this test calls the installed handler at the 1st, 2nd, ... Nth
traced line or call after the first tick, i.e. at every point of the loop's
wait, and requires each run to return (``tests/support/stop_anywhere.py``).
"""

from __future__ import annotations

import subprocess

from tests.support.children import run_python

POINTS = 80  # more than the traced events of one tick and wait


def test_the_stop_signal_can_land_anywhere_in_the_wait():
    try:
        done = run_python("-m", "tests.support.stop_anywhere", str(POINTS), timeout=60)
    except subprocess.TimeoutExpired as hung:
        reached = (hung.stdout or b"").decode().split()[-1:] or ["none"]
        raise AssertionError(
            f"the loop hung on a stop signal; last point that returned: {reached[0]}"
        ) from None
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"returned {POINTS}" in done.stdout
