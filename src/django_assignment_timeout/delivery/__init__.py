"""The notification relay (outbox): claim due events, notify, record the outcome.

:mod:`.relay` claims and records (each a short transaction) and runs the
batches; :mod:`.sending` turns a claimed batch into notifications and sends
them through every configured notifier, outside any transaction;
:mod:`~django_assignment_timeout.delivery.recipients` holds the
per-recipient rules (whom a retry sends to).
"""

from __future__ import annotations

from django_assignment_timeout.delivery.relay import (
    RECORD_CHUNK,
    DeliveryResult,
    backoff,
    claim_batch,
    deliver_pending,
    due_events,
    next_attempt,
    record,
    requeue_dead,
    requeue_recipients,
)
from django_assignment_timeout.delivery.sending import MAX_ERROR_LENGTH, send_batch

__all__ = [
    "MAX_ERROR_LENGTH",
    "RECORD_CHUNK",
    "DeliveryResult",
    "backoff",
    "claim_batch",
    "deliver_pending",
    "due_events",
    "next_attempt",
    "record",
    "requeue_dead",
    "requeue_recipients",
    "send_batch",
]
