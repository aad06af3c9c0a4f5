"""Communication: sent (created) through the flow policy, read and searched; never updated."""

from __future__ import annotations

from functools import partial

from adapter.auth import visibility
from adapter.fhir.registry import Registry, ResourceDefinition, SearchParam
from adapter.messaging import service
from adapter.messaging.policy import FlowPolicy

R4 = "http://hl7.org/fhir/SearchParameter"


def _visibility(ctx, id_column):
    """A message is seen by whoever sees its sending inbox or one of its recipients' inboxes."""
    if visibility.sees_everything(ctx):
        return None
    return visibility.refers_to_visible_inbox(ctx, resource_type="Communication", params=("sender", "recipient"),
                                              id_column=id_column)


def register(registry: Registry, *, policy: FlowPolicy | None = None) -> None:
    """Serve Communication (create, read, vread, search, history)."""
    policy = policy or FlowPolicy.from_table()
    params = (
        SearchParam("identifier", "token", ("Communication.identifier",), "The sender's id for the message", definition=f"{R4}/Communication-identifier"),
        SearchParam("sender", "reference", ("Communication.sender",), "The sending inbox (sent items, MC-R22)",
                    targets=("Practitioner", "HealthcareService"), definition=f"{R4}/Communication-sender"),
        SearchParam("recipient", "reference", ("Communication.recipient",), "A recipient inbox",
                    targets=("Practitioner", "HealthcareService"), definition=f"{R4}/Communication-recipient"),
        SearchParam("category", "token", ("Communication.category",), "The message-category", definition=f"{R4}/Communication-category"),
        SearchParam("subject", "reference", ("Communication.subject",), "The patient (also subject:identifier)", definition=f"{R4}/Communication-subject"),
        SearchParam("part-of", "reference", ("Communication.partOf",), "The case", definition=f"{R4}/Communication-part-of"),
        SearchParam("sent", "date", ("Communication.sent",), "When it was sent", definition=f"{R4}/Communication-sent"),
    )
    registry.add_resource(ResourceDefinition(
        name="Communication",
        search_params={p.name: p for p in params},
        interactions=("create", "read", "vread", "search-type", "history-instance"),
        create_handler=partial(service.send, policy=policy),
        visibility=_visibility,
    ))
