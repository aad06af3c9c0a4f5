"""The ends of an exchange as the flow policy sees them, read from the directory once per message."""

from __future__ import annotations

from adapter.directory import lookups, shapes
from adapter.directory.inboxes import Inbox
from adapter.directory.rules import party_of
from adapter.fhir import store
from adapter.messaging.policy import Endpoint


def endpoint(inbox: Inbox) -> Endpoint:
    """An inbox as the policy sees it: its kind, whose it is, and its care providers (MC-R3).

    A personal inbox as a recipient is at every provider where its user has an active role.
    """
    return Endpoint(inbox.kind, inbox.party, inbox.providers)


def acting_endpoint(ctx, inbox: Inbox) -> Endpoint:
    """The sending end. A user sending from their own personal inbox is the party and care provider
    of the assignment they act under (the token's unit), not of every role they hold: a region
    assignment is not municipal because the same user also works for a municipality (MC-R12)."""
    caller = ctx.caller
    if not (inbox.is_personal and caller.kind == "user" and caller.unit_hsa_id and inbox.id == caller.practitioner_id):
        return endpoint(inbox)
    unit_id = lookups.organization_id_by_hsa(ctx.session, hsa_id=caller.unit_hsa_id)
    unit = store.load_current(ctx.session, resource_type="Organization", resource_id=unit_id) if unit_id else None
    if unit is None:
        return endpoint(inbox)
    kind = shapes.organization_kind(unit.as_dict())
    return Endpoint("personal", party_of({kind} if kind else set()), frozenset({lookups.provider_of(ctx.session, unit_id)}))


def caller_kind(ctx) -> str:
    """The `caller` dimension of the flow rules: the EHR integration's client apart from other clients."""
    caller = ctx.caller
    if caller.kind == "client":
        return "ehr" if caller.can("ehr") else "client"
    return "adapter" if caller.kind == "adapter" else "user"
