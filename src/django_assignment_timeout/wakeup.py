"""Waking sleeping loops at once on PostgreSQL: ``NOTIFY`` to send, ``LISTEN`` to hear.

A loop sleeps until the next deadline (:mod:`.sweep.deadline`). An offer committed
meanwhile may end sooner, and its event should be delivered now, so whoever
commits one calls :func:`wake_sweepers`; every loop listening on that
database (:class:`WakeListener`) wakes, sweeps, delivers and probes again.
Other databases have no such channel: there the loops probe on a short
cadence instead (``ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL``).

A wake is a trigger, not truth: one that is lost (no listener, a dropped
connection) only delays work until the next probe, deadline or interval.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

__all__ = ["CHANNEL", "WakeListener", "wake_sweepers"]

logger = logging.getLogger("django_assignment_timeout")

#: The PostgreSQL notification channel the loops listen on.
CHANNEL = "assignment_timeout_wake"


def wake_sweepers(using: str | None = None) -> None:
    """Wake every loop listening on database ``using`` (default: ``default``).

    Call it once a change that makes an earlier deadline or a new event has
    committed (the command scheduler does, from its after-commit triggers).
    Called inside a transaction, PostgreSQL holds the notification until
    that transaction commits and drops it on a rollback, so a loop never
    wakes for a change it can not see. Off PostgreSQL it does nothing. A
    failure is logged, never raised: the loops' own cadence repairs it.
    """
    connection = connections[using or DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    except DatabaseError:
        logger.warning("Could not wake the sweepers", exc_info=True)


class WakeListener:
    """A dedicated connection that ``LISTEN``\\ s for :func:`wake_sweepers`.

    Not Django's connection: a loop closes that one between ticks
    (``close_old_connections()``), and a closed connection hears nothing. This
    one is a psycopg (3) connection in autocommit, built from the same
    ``DATABASES`` entry. When it is lost it is reopened, with a doubling
    delay (``retry`` up to ``retry_max`` seconds), and meanwhile
    :attr:`listening` is False so the loop falls back to probing.
    """

    def __init__(
        self,
        using: str,
        *,
        retry: float = 0.5,
        retry_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.using = using
        self.retry, self.retry_max, self.clock = retry, retry_max, clock
        self._delay = retry
        self._retry_at = 0.0
        self._connection: Any = None
        self._unavailable = False

    @property
    def listening(self) -> bool:
        """Whether a notification would reach this listener now."""
        return self._connection is not None

    def fileno(self) -> int:
        """The socket to wait on (only while :attr:`listening`)."""
        return int(self._connection.fileno())

    def retry_in(self) -> float | None:
        """Seconds until the next connection attempt; None if none is pending."""
        if self._connection is not None or self._unavailable:
            return None
        return max(self._retry_at - self.clock(), 0.0)

    def ensure(self) -> bool:
        """Connect and ``LISTEN`` if not listening and a retry is due.

        True when a new connection started listening: wakes sent while
        there was none were lost, so the loop should look at once.
        """
        if self._connection is not None or self._unavailable:
            return False
        if self.clock() < self._retry_at:
            return False
        try:
            import psycopg  # Django's PostgreSQL backend needs it or psycopg2
        except ImportError:
            # psycopg2 has another notification API; the probe cadence
            # bounds the delay without it.
            logger.warning(
                "psycopg (3) is not installed: loops on %r probe instead of "
                "listening for wake-ups",
                self.using,
            )
            self._unavailable = True
            return False
        params = connections[self.using].get_connection_params()
        params.pop("cursor_factory", None)
        # A reconnect must not hang the loop on an unreachable server.
        params.setdefault("connect_timeout", 5)
        try:
            connection = psycopg.connect(**params, autocommit=True)
            connection.execute(f'LISTEN "{CHANNEL}"')
        except psycopg.Error as err:
            self._lost(err)
            return False
        self._connection = connection
        self._delay = self.retry
        return True

    def drain(self) -> bool:
        """Take every notification that arrived; True if any did or the connection fell.

        Either way the loop should look now: a fallen connection may have
        swallowed a wake.
        """
        if self._connection is None:
            return False
        import psycopg  # imported by ensure() already, which made the connection

        try:
            heard = list(self._connection.notifies(timeout=0))
        except psycopg.Error as err:
            self._lost(err)
            return True
        if self._connection.closed:  # the server hung up without a message
            self._lost(None)
            return True
        return bool(heard)

    def close(self) -> None:
        """Stop listening (the loop is ending)."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def _lost(self, err: Exception | None) -> None:
        logger.warning(
            "Wake-up listener on %r lost (%s); probing until it reconnects in %.1fs",
            self.using,
            err,
            self._delay,
        )
        self.close()
        self._retry_at = self.clock() + self._delay
        self._delay = min(self._delay * 2, self.retry_max)
