"""Directory queries other domains use: users by HSA-id, their assignments, units, inboxes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select

from adapter.directory import shapes
from adapter.fhir import store
from adapter.fhir.store import Stored
from adapter.fhir.models import ReferenceIndex
from adapter.identifiers import HSA_ID, INBOX_ID, ORGANISATIONSNUMMER


@dataclass(frozen=True)
class RoleInfo:
    """One active assignment of a user, with the PractitionerRole it was read from."""

    role_id: str
    role: str
    organization_id: str | None
    stored: Stored = field(compare=False, repr=False)

    @property
    def resource(self) -> dict:
        """The PractitionerRole (parsed)."""
        return self.stored.as_dict()


def practitioner_id_by_hsa(session, *, hsa_id: str) -> str | None:
    """The Practitioner (personal inbox) with this HSA-id (MC-R12: one per user)."""
    return store.owners_of_identifier(session, resource_type="Practitioner", system=HSA_ID, value=hsa_id)


def organization_id_by_hsa(session, *, hsa_id: str) -> str | None:
    """The Organization with this HSA-id."""
    return store.owners_of_identifier(session, resource_type="Organization", system=HSA_ID, value=hsa_id)


def inbox_id_by_identifier(session, *, identifier: str) -> str | None:
    """The HealthcareService with this inbox identifier."""
    return store.owners_of_identifier(session, resource_type="HealthcareService", system=INBOX_ID, value=identifier)


def referring_ids(session, *, resource_type: str, param: str, target_type: str, target_id: str) -> list[str]:
    """Ids of `resource_type` whose `param` refers to the target (index lookup)."""
    return list(
        session.execute(
            select(ReferenceIndex.resource_id).where(
                ReferenceIndex.resource_type == resource_type,
                ReferenceIndex.param == param,
                ReferenceIndex.target_id == target_id,
                ReferenceIndex.target_type == target_type,
            )
        ).scalars()
    )


def active_roles_of_many(session, *, practitioner_ids: list[str]) -> dict[str, list[RoleInfo]]:
    """Each user's active assignments, for many users in two queries."""
    pairs = session.execute(
        select(ReferenceIndex.resource_id, ReferenceIndex.target_id).where(
            ReferenceIndex.resource_type == "PractitionerRole", ReferenceIndex.param == "practitioner",
            ReferenceIndex.target_type == "Practitioner", ReferenceIndex.target_id.in_(list(practitioner_ids)))
    ).all()
    stored = store.load_many(session, resource_type="PractitionerRole", ids=sorted({role_id for role_id, _ in pairs}))
    found: dict[str, list[RoleInfo]] = {}
    for role_id, practitioner_id in sorted(pairs):
        info = _active_role(stored.get(role_id))
        if info is not None:
            found.setdefault(practitioner_id, []).append(info)
    return found


def inbox_names(session, references: list[str]) -> dict[str, str]:
    """Inboxes' names from the directory: a shared inbox's name, a user's name (two queries at most)."""
    found: dict[str, str] = {}
    for resource_type in ("HealthcareService", "Practitioner"):
        ids = [r.split("/", 1)[1] for r in references if r.startswith(resource_type + "/")]
        for stored in store.load_many(session, resource_type=resource_type, ids=ids).values():
            name = shapes.display_name(stored.as_dict())
            if name:
                found[stored.reference] = name
    return found


def practitioners_at(session, *, organization_ids: list[str]) -> set[str]:
    """Ids of the users with an active assignment at any of the organisations (two indexed queries)."""
    if not organization_ids:
        return set()
    role_ids = session.execute(select(ReferenceIndex.resource_id).where(
        ReferenceIndex.resource_type == "PractitionerRole", ReferenceIndex.param == "organization",
        ReferenceIndex.target_type == "Organization", ReferenceIndex.target_id.in_(sorted(organization_ids)))).scalars().all()
    found = set()
    for stored in store.load_many(session, resource_type="PractitionerRole", ids=sorted(set(role_ids))).values():
        if _active_role(stored) is not None:
            practitioner = shapes.reference_id(stored.as_dict().get("practitioner"), "Practitioner")
            if practitioner:
                found.add(practitioner)
    return found


def _active_role(stored: Stored | None) -> RoleInfo | None:
    """The assignment a stored PractitionerRole is, if it is active and has a role code."""
    if stored is None:
        return None
    role = json.loads(stored.content)
    if role.get("active") is False:
        return None
    org_ref = role.get("organization", {}).get("reference", "")
    org_id = org_ref.split("/", 1)[1] if org_ref.startswith("Organization/") else None
    codes = shapes.codings(role.get("code"), shapes.ROLE)
    return RoleInfo(stored.id, codes[0], org_id, stored) if codes else None


def active_roles_of(session, *, practitioner_id: str, unit_hsa_id: str | None = None) -> list[RoleInfo]:
    """The user's active assignments, optionally only those at one unit."""
    role_ids = referring_ids(session, resource_type="PractitionerRole", param="practitioner",
                             target_type="Practitioner", target_id=practitioner_id)
    unit_id = organization_id_by_hsa(session, hsa_id=unit_hsa_id) if unit_hsa_id else None
    if unit_hsa_id and unit_id is None:
        return []
    roles = []
    for stored in store.load_many(session, resource_type="PractitionerRole", ids=role_ids).values():
        info = _active_role(stored)
        if info is not None and (not unit_id or info.organization_id == unit_id):
            roles.append(info)
    return roles


def ancestors(session, organization_id: str) -> list[str]:
    """The organisation and those above it (partOf), nearest first."""
    chain, seen = [], set()
    current = organization_id
    while current and current not in seen:
        seen.add(current)
        chain.append(current)
        stored = store.load_current(session, resource_type="Organization", resource_id=current)
        current = shapes.reference_id((stored.as_dict() if stored else {}).get("partOf"), "Organization")
    return chain


def provider_of(session, organization_id: str) -> str:
    """The care provider (vårdgivare) a unit belongs to, from the directory: the organisation number of
    the unit or of the nearest organisation above it, else the topmost organisation (MC-R3)."""
    chain = ancestors(session, organization_id)
    for org_id in chain:
        stored = store.load_current(session, resource_type="Organization", resource_id=org_id)
        numbers = shapes.identifier_values(stored.as_dict(), ORGANISATIONSNUMMER) if stored else []
        if numbers:
            return numbers[0]
    return f"Organization/{chain[-1]}"
