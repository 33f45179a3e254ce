"""Logging notifier (filled in by the notifier work)."""

from __future__ import annotations
