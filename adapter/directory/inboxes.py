"""Inboxes at either end of a message: which kind, whose, active or not, who is a member."""

from __future__ import annotations

import json
from dataclasses import dataclass

from adapter.directory import lookups, shapes
from adapter.directory.rules import is_municipal, party_of
from adapter.errors import Issue, UnprocessableResource
from adapter.fhir import store
from adapter.mappings import table

INBOX_TYPES = ("Practitioner", "HealthcareService")


@dataclass(frozen=True)
class Inbox:
    """A resolved inbox: personal (a Practitioner) or shared (a HealthcareService)."""

    reference: str
    kind: str  # "personal" or the inbox-kind
    party: str
    active: bool
    organization_id: str | None = None  # a shared inbox's unit
    organization_hsa_id: str | None = None

    @property
    def is_personal(self) -> bool:
        return self.kind == "personal"

    @property
    def id(self) -> str:
        return self.reference.split("/", 1)[1]


def _municipal_kinds() -> frozenset[str]:
    return frozenset(r["code"] for r in table("organization_kinds") if is_municipal(r["code"]))


def _org_kinds_of_user(session, practitioner_id: str) -> set[str]:
    roles = lookups.active_roles_of(session, practitioner_id=practitioner_id)
    org_ids = sorted({r.organization_id for r in roles if r.organization_id})
    orgs = store.load_many(session, resource_type="Organization", ids=org_ids)
    return {shapes.organization_kind(o.as_dict()) for o in orgs.values() if shapes.is_active(o.as_dict())}


def resolve_inbox(ctx, reference, *, expression: str) -> Inbox:
    """The inbox a Reference names; 422 when it names anything else or nothing."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    target_type, _, target_id = (ref or "").partition("/")
    if target_type not in INBOX_TYPES or not target_id:
        raise UnprocessableResource(Issue(
            "invalid", "an inbox is a Practitioner (personal inbox) or a HealthcareService (shared inbox)", expression))
    stored = store.load_current(ctx.session, resource_type=target_type, resource_id=target_id)
    if stored is None:
        raise UnprocessableResource(Issue("not-found", f"{ref} does not exist", expression))
    resource = json.loads(stored.content)
    if target_type == "Practitioner":
        party = party_of(_org_kinds_of_user(ctx.session, target_id), _municipal_kinds())
        return Inbox(ref, "personal", party, shapes.is_active(resource))
    unit_id = shapes.reference_id(resource.get("providedBy"), "Organization")
    unit = store.load_current(ctx.session, resource_type="Organization", resource_id=unit_id) if unit_id else None
    unit_resource = unit.as_dict() if unit else {}
    kind = shapes.organization_kind(unit_resource)
    return Inbox(
        ref, shapes.inbox_kind(resource) or "function",
        party_of({kind} if kind else set(), _municipal_kinds()) if kind != "verksamhet" else "care",
        shapes.is_active(resource), unit_id, shapes.hsa_id(unit_resource),
    )


def is_member(ctx, *, practitioner_id: str, inbox: Inbox) -> bool:
    """True when the user has an active role listing the shared inbox (PractitionerRole.healthcareService)."""
    role_ids = lookups.referring_ids(ctx.session, resource_type="PractitionerRole", param="service",
                                     target_type="HealthcareService", target_id=inbox.id)
    for stored in store.load_many(ctx.session, resource_type="PractitionerRole", ids=role_ids).values():
        role = stored.as_dict()
        if role.get("active") is not False and shapes.reference_id(role.get("practitioner"), "Practitioner") == practitioner_id:
            return True
    return False
