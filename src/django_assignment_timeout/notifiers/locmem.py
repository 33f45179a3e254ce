"""In-memory notifier for tests (filled in by the notifier work)."""

from __future__ import annotations

outbox: list[object] = []
