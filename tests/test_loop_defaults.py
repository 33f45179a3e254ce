"""The ``--loop`` machinery with no start or stop callbacks.

A tick that raises is reported and the loop goes on; a SIGTERM during a
tick lets that tick finish, and the loop returns without calling anything
else, with the process's own SIGTERM handler back in place. Run in this
process: a recording handler is installed first, so a loop that failed to
take SIGTERM over would be seen (the recorder gets it) rather than kill
the test run.
"""

from __future__ import annotations

import signal

import pytest

from django_assignment_timeout.management.loop import run_until_stopped


# Each tick closes stale connections, which must not happen inside a test's
# transaction: a transactional test.
@pytest.mark.django_db(transaction=True)
def test_without_callbacks_the_loop_survives_an_error_and_stops_on_sigterm():
    outer: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: outer.append(signum))
    ticks: list[str] = []
    errors: list[Exception] = []

    def tick() -> bool:
        ticks.append("tick")
        if len(ticks) == 1:
            raise RuntimeError("the database restarted")
        signal.raise_signal(signal.SIGTERM)
        ticks.append("finished")  # the signal does not cut the tick short
        return True  # more work waiting: only the signal ends the loop

    try:
        run_until_stopped(tick, 0.01, on_error=errors.append)
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        handler = signal.signal(signal.SIGTERM, previous)

    assert ticks == ["tick", "tick", "finished"]
    assert [str(err) for err in errors] == ["the database restarted"]
    assert outer == []  # the loop's handler took the signal
    assert restored is handler  # and put the recorder back
