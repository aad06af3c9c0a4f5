"""Operations plugs into the registry: messages routed are counted."""

from __future__ import annotations

from adapter.fhir.registry import Registry
from adapter.ops.metrics import on_message_routed


def register(registry: Registry) -> None:
    """Count routed messages (the messaging domain emits `message-routed`)."""
    registry.on("message-routed", on_message_routed)
