"""The ``--loop`` both management commands share: tick until SIGTERM or SIGINT.

Between ticks a loop sleeps until the next moment its tick has work (the
earliest deadline, the next event due for delivery), at most ``interval``,
and wakes at once when told to (:func:`~django_assignment_timeout.wakeup.wake_sweepers`
on PostgreSQL) or, where nothing can tell it, at each probe of a short
cadence.
"""

from __future__ import annotations

import contextlib
import enum
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, connections

from django_assignment_timeout.wakeup import WakeListener

__all__ = ["Pacing", "Tick", "run_until_stopped", "seconds_to_sleep"]

#: Consecutive stuck ticks after which the back-off stops doubling.
_MAX_DOUBLINGS = 16


class Tick(enum.Enum):
    """What a tick did, which decides how soon the next one runs."""

    #: Nothing to do: the loop sleeps (or backs off if work is still due).
    IDLE = "idle"
    #: Expired or delivered something: work due now is new, tick again.
    WORKED = "worked"
    #: Stopped at a limit with work left: tick again at once.
    MORE = "more"


@dataclass(frozen=True)
class Pacing:
    """How a loop finds the next moment it has work, and what may wake it sooner."""

    #: Seconds until the tick next has work (negative: due now; None: nothing
    #: scheduled), read from the database in a query or two.
    probe: Callable[[], float | None]
    #: The databases whose wake-ups it listens for (PostgreSQL ones only).
    listen_on: Sequence[str] = ()
    #: Seconds between probes while no listener can wake the loop.
    probe_interval: float = 0.25


def seconds_to_sleep(until: float | None, cap: float) -> float:
    """How long a loop may sleep: until ``until`` seconds from now, at most ``cap``.

    ``None`` (nothing scheduled) sleeps the whole ``cap``; something already
    due (``until <= 0``) does not sleep at all; never negative.
    """
    if until is None:
        return max(cap, 0.0)
    return max(min(until, cap), 0.0)


def run_until_stopped(
    tick: Callable[[], bool | Tick],
    interval: float,
    *,
    on_error: Callable[[Exception], None],
    on_stop: Callable[[int], None] | None = None,
    on_start: Callable[[], None] | None = None,
    pacing: Pacing | None = None,
) -> None:
    """Call ``tick`` at least every ``interval`` seconds until SIGTERM or SIGINT.

    ``tick`` returns True (or :attr:`Tick.MORE`) when more work is waiting;
    the next tick then runs at once. Without ``pacing`` the loop sleeps ``interval`` between ticks.
    With it, the loop also ticks when ``pacing.probe()`` says work is due,
    when a listener hears a wake-up, and when a listener (re)connects (wakes
    sent while it was away were lost); while none listens, it probes every
    ``pacing.probe_interval``. Work still due right after a tick that did
    nothing (False or :attr:`Tick.IDLE`: rows another sweeper holds, an event
    whose notifiers can not load) is retried after a doubling delay, capped
    by ``interval``, rather than in a busy loop; after a tick that did work
    (:attr:`Tick.WORKED`) it is new work, taken at once.

    A signal lets the running tick finish (a batch is never cut in half),
    then ``on_stop`` is told which signal it was and the loop returns. A tick
    or probe that raises goes to ``on_error`` and the loop goes on after
    ``interval``: a database restart or a lost connection must not kill a
    long-running process. ``on_start`` is called once the signal handlers
    are in place, so what it announces ("SIGTERM stops") holds from then on.
    """
    # The handler runs between two bytecodes of this thread, which may be
    # holding any lock at that moment, so it takes none: it records the signal
    # and wakes the wait below through a socket. (threading.Event.set() there
    # deadlocks when the signal lands inside Event.wait(); measured: 7 hangs
    # in 200 SIGTERMs under a tracer such as coverage.) Output is left to the
    # loop for the same reason.
    received: list[int] = []
    wake_reader, wake_writer = socket.socketpair()
    wake_writer.setblocking(False)

    def request_stop(signum: int, frame: Any) -> None:
        received.append(signum)
        with contextlib.suppress(OSError):  # a full buffer: already woken
            wake_writer.send(b"\0")

    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    listeners = _listeners(pacing)
    try:
        if on_start is not None:
            on_start()
        _Loop(tick, interval, on_error, pacing, listeners).run(received, wake_reader)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for listener in listeners:
            listener.close()
        close_old_connections()
        wake_reader.close()
        wake_writer.close()
    if on_stop is not None:
        on_stop(received[0])


def _listeners(pacing: Pacing | None) -> list[WakeListener]:
    if pacing is None:
        return []
    aliases = dict.fromkeys(pacing.listen_on)  # once each, in order
    return [
        WakeListener(alias)
        for alias in aliases
        if connections[alias].vendor == "postgresql"
    ]


class _Loop:
    """The state of one running loop: when it last ticked, why it wakes."""

    def __init__(
        self,
        tick: Callable[[], bool | Tick],
        interval: float,
        on_error: Callable[[Exception], None],
        pacing: Pacing | None,
        listeners: list[WakeListener],
    ) -> None:
        self.tick, self.interval, self.on_error = tick, interval, on_error
        self.worked = False
        self.pacing, self.listeners = pacing, listeners
        self.run_now = True
        self.next_tick = 0.0
        self.tick_began = 0.0
        self.recycle_at = 0.0
        self.stuck = 0

    def _recycle_connections(self) -> None:
        # As often as the fixed-interval loop did, not at every wake: with
        # CONN_MAX_AGE = 0 each woken tick (one per offer on PostgreSQL)
        # would otherwise open a new connection, which doubled the p99 from
        # an offer's commit to its push (measured: 84 ms against 34 ms).
        now = time.monotonic()
        if now >= self.recycle_at:
            close_old_connections()
            self.recycle_at = now + self.interval

    def run(self, received: list[int], wake_reader: socket.socket) -> None:
        while not received:
            # Listen before probing: a wake sent between the probe and the
            # sleep then waits in the socket and ends the sleep at once.
            for listener in self.listeners:
                if listener.ensure():
                    self.run_now = True
            ran = failed = False
            if self.run_now or time.monotonic() >= self.next_tick:
                self.run_now, ran = False, True
                self._recycle_connections()
                self.tick_began = time.monotonic()
                try:
                    outcome = self.tick()
                except Exception as err:
                    self.on_error(err)
                    outcome, failed = Tick.IDLE, True
                    self.recycle_at = 0.0  # a broken connection goes next tick
                self.next_tick = time.monotonic() + self.interval
                if outcome is True:
                    outcome = Tick.MORE
                self.worked = outcome is Tick.WORKED
                if outcome is Tick.MORE:
                    self.run_now = True
                    continue
            if received:
                break
            wait = self._wait(ran, failed)
            if wait is None:
                self.run_now = True
                continue
            waiting: list[Any] = [wake_reader]
            waiting += [each for each in self.listeners if each.listening]
            readable, _, _ = select.select(waiting, [], [], wait)
            for listener in self.listeners:
                if listener in readable and listener.drain():
                    self.run_now = True

    def _wait(self, ran: bool, failed: bool) -> float | None:
        """Seconds to sleep now, or None to tick at once."""
        remaining = max(self.next_tick - time.monotonic(), 0.0)
        if self.pacing is None or failed:
            return remaining
        try:
            until = self.pacing.probe()
        except Exception as err:  # the database went away: as a failed tick
            self.on_error(err)
            self.recycle_at = 0.0
            return remaining
        cap = remaining
        if not any(listener.listening for listener in self.listeners):
            cap = min(cap, self.pacing.probe_interval)
        for listener in self.listeners:
            retry = listener.retry_in()
            if retry is not None:  # reconnect on time, whatever the cadence
                cap = min(cap, retry)
        if until is None or until > 0:
            if ran:
                self.stuck = 0
            return seconds_to_sleep(until, cap)
        if not ran:
            return None
        if self.worked:
            self.stuck = 0
            return None
        if -until < time.monotonic() - self.tick_began:
            # It fell due while the tick ran (or since): new work, not work the
            # tick failed to take, so take it now. Backing off here cost one
            # probe interval whenever a deadline passed during an idle tick,
            # which is often on PostgreSQL, where every offer wakes the loop
            # (measured: p99 lateness 0.22 s against 0.02 s).
            self.stuck = 0
            return None
        # Due even though the tick just ran and did nothing: back off
        # instead of spinning.
        self.stuck += 1
        # (typeshed types int ** int as Any: a negative power would be a float)
        doubling: int = 2 ** min(self.stuck - 1, _MAX_DOUBLINGS)
        return min(self.pacing.probe_interval * doubling, remaining)
