"""The notification relay (outbox): claim undelivered events, notify, record.

Stub with the final interface; the relay itself is built in the notifier work.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DeliveryResult:
    """What one delivery run did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    has_more: bool = False


def deliver_pending(
    *, batch_size: int | None = None, max_batches: int | None = None
) -> DeliveryResult:
    """Deliver due, undelivered events in bounded batches."""
    return DeliveryResult()
