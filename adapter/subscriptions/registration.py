"""Serve Subscription (the backport's R4 representation), `$status` and `$events`, and deliver notifications."""

from __future__ import annotations

from adapter.fhir.registry import Operation, OperationParameter, Registry, ResourceDefinition, SearchParam
from adapter.subscriptions import backport, service

BACKPORT_OPERATIONS = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition"


def register(registry: Registry) -> None:
    """Subscription create/read/search, its two operations, and its outbox kind."""
    registry.add_resource(ResourceDefinition(
        name="Subscription",
        search_params={"status": SearchParam("status", "token", ("Subscription.status",), "requested, active, error, off",
                                             definition="http://hl7.org/fhir/SearchParameter/Subscription-status")},
        interactions=("create", "read", "vread", "update", "search-type", "history-instance"),
        create_handler=service.create_subscription,
        profile=service.check_update,
        after_write=service.after_update,
        visibility=service.visibility_of,
        capability_extensions=({"url": backport.TOPIC_CAPABILITY, "valueCanonical": backport.TOPIC},),
    ))
    registry.instantiates.append(backport.SERVER_CAPABILITY)
    registry.add_operation(Operation(
        resource_type="Subscription", name="status", handler=service.status_operation, idempotent=True,
        description="The subscription's SubscriptionStatus: its status and the number of its last event",
        definition=f"{BACKPORT_OPERATIONS}/backport-subscription-status",
    ))
    registry.add_operation(Operation(
        resource_type="Subscription", name="events", handler=service.events_operation, idempotent=True,
        description="The events numbered eventsSinceNumber to eventsUntilNumber (at most 1,000), to recover missed ones",
        definition=f"{BACKPORT_OPERATIONS}/backport-subscription-events",
        parameters=(OperationParameter("eventsSinceNumber", "in", "string", "The first event wanted (default 1)"),
                    OperationParameter("eventsUntilNumber", "in", "string", "The last event wanted (default: the last)"),
                    OperationParameter("content", "in", "code", "empty, id-only or full-resource (default: the subscription's)")),
    ))
    registry.add_deliverer(service.KIND, service.deliver_notification)
    registry.add_destination_resolver(service.PREFIX, service.resolve_destination)
    registry.on("outbox-attempted", service.on_attempted)
    registry.on("outbox-delivered", service.on_delivered)
    registry.on("outbox-dead", service.on_dead)
    registry.published.setdefault("Basic", []).append(backport.topic_as_basic)
