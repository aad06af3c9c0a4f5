"""Plug follow-up into the registry: record watches when an inbox is polled or its list opened."""

from __future__ import annotations

from functools import partial

from adapter.fhir.registry import Registry
from adapter.followup import watches


def register(registry: Registry) -> None:
    """Listen to the inbox feed's "inbox-watched"."""
    registry.on("inbox-watched", partial(watches.on_inbox_watched, memo=watches.Memo()))  # one memo per app
