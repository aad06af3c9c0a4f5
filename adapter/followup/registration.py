"""Plug follow-up into the registry: record watches when a shared inbox is polled or opened."""

from __future__ import annotations

from adapter.fhir.registry import Registry
from adapter.followup import watches


def register(registry: Registry) -> None:
    """Listen to the inbox feed's "inbox-watched"."""
    registry.on("inbox-watched", watches.on_inbox_watched)
