"""Plug the connector in when `MC_MILLENNIUM_BASE_URL` is configured (the composition root calls this)."""

from __future__ import annotations

from adapter.fhir.registry import Registry
from adapter.millennium import outbound


def register(registry: Registry, *, config) -> outbound.Connector:
    """Messages to Millennium inboxes go through the outbox to Millennium; return the worker's connector."""
    connector = outbound.Connector(config)
    registry.add_upstream(outbound.MillenniumUpstream(config.millennium))
    registry.add_deliverer(outbound.KIND, connector.deliver)
    registry.on("outbox-delivered", outbound.on_delivered)
    registry.on("outbox-dead", outbound.on_dead)
    registry.on("outbox-requeued", outbound.on_requeued)
    registry.derived["millennium"] = connector
    return connector
