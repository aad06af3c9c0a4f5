"""Recording AuditEvents: who (user and assignment, or client), what, when, outcome. Append-only."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter.audit.models import AuditEntity
from adapter.fhir import store
from adapter.fhir.store import instant
from adapter.mappings import extension_url
from adapter.uuids import time_ordered_uuid
from adapter.writes import insert_later

AUDITED_TYPES = frozenset({"Communication", "Task", "DiagnosticReport", "ServiceRequest", "MedicationRequest", "DocumentReference"})
AUDIT_TRAIL = "AuditEvent"  # every read of the trail is itself audited
CLIENT_SYSTEM = "https://meddelandecenter-adapter.github.io/fhir/NamingSystem/client"
HSA_ID = "urn:oid:1.2.752.29.4.19"
_ACTION = {"read": "R", "vread": "R", "history": "R", "search": "E", "create": "C", "update": "U", "patch": "U",
           "operation": "E", "transaction": "E"}
_SUBTYPE = {"read": "read", "vread": "vread", "history": "history-instance", "search": "search-type",
            "create": "create", "update": "update", "patch": "patch", "operation": "operation", "transaction": "transaction"}


@dataclass
class Access:
    """One request's access to patient data."""

    interaction: str
    resources: list[dict] = field(default_factory=list)  # the resources touched (parsed)
    outcome: str = "0"  # 0 success, 4 refused (minor failure), 8 failed
    description: str | None = None
    patients: list[tuple[str, str]] = field(default_factory=list)  # patients named apart from the resources


def patients_of(resource: dict) -> list[tuple[str, str]]:
    """(system, value) of the patient a Communication (`subject`) or Task (`for`) is about."""
    reference = resource.get("subject") or resource.get("for") or {}
    if not isinstance(reference, dict):
        return []
    literal = reference.get("reference")
    if isinstance(literal, str) and literal.startswith("Patient/") and "identifier" not in reference:
        return [("Patient", literal)]
    identifier = reference.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("system"), str) and isinstance(identifier.get("value"), str) \
            and identifier["system"] and identifier["value"]:
        return [(identifier["system"][:200], identifier["value"][:200])]
    return []


def touches_patient_data(resources: list[dict]) -> bool:
    """Whether any of the resources is about a patient."""
    return any(patients_of(r) for r in resources)


def _agent(caller) -> tuple[dict, str]:
    if caller.kind == "client":
        who = {"identifier": {"system": CLIENT_SYSTEM, "value": caller.client_name}}
        agent = {"who": who, "requestor": True, "name": caller.client_name,
                 "extension": [{"url": extension_url("acting-organization"),
                                "valueIdentifier": {"system": HSA_ID, "value": caller.organization_hsa_id}}]}
        return agent, f"agent|{caller.client_name}"
    if caller.kind == "user":
        agent = {"who": {"reference": f"Practitioner/{caller.practitioner_id}",
                         "identifier": {"system": HSA_ID, "value": caller.hsa_id}}, "requestor": True}
        if caller.unit_hsa_id:  # the assignment (medarbetaruppdrag) the user acts under
            agent["extension"] = [{"url": extension_url("acting-organization"),
                                   "valueIdentifier": {"system": HSA_ID, "value": caller.unit_hsa_id}}]
        if caller.roles:
            agent["role"] = [{"coding": [{"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/role",
                                          "code": role}]} for role in sorted(caller.roles)]
        return agent, f"agent|Practitioner/{caller.practitioner_id}"
    return {"who": {"display": caller.kind}, "requestor": True}, f"agent|{caller.kind}"


def _principals(caller, resources: list[dict]) -> list[str]:
    """Personal inboxes the caller reached as a proxy: items owned by another user's inbox."""
    if caller.kind != "user":
        return []
    mine = f"Practitioner/{caller.practitioner_id}"
    owners = {(r.get("owner") or {}).get("reference") for r in resources if r.get("resourceType") == "Task"}
    return sorted(o for o in owners if o and o.startswith("Practitioner/") and o != mine)


def audit_event(caller, access: Access, *, now) -> tuple[dict, list[str]]:
    """The AuditEvent of one access, and the entity keys it is searched by."""
    agent, agent_key = _agent(caller)
    agents = [agent] + [  # on whose behalf: the principal whose inbox a proxy handled (MC-R45)
        {"type": {"text": "on behalf of"}, "who": {"reference": principal}, "requestor": False}
        for principal in _principals(caller, access.resources)
    ]
    entities, keys = [], [agent_key] + [f"agent|{a['who']['reference']}" for a in agents[1:]]
    for resource in access.resources:
        reference = f"{resource['resourceType']}/{resource['id']}"
        entities.append({"what": {"reference": reference},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"}})
        keys.append(reference)
    for system, value in sorted({p for r in access.resources for p in patients_of(r)} | set(access.patients)):
        entities.append({"what": {"identifier": {"system": system, "value": value}},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}})
        keys.append(f"patient|{system}|{value}")
    event = {
        "resourceType": "AuditEvent",
        "id": time_ordered_uuid(),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": _SUBTYPE.get(access.interaction, "operation")}],
        "action": _ACTION.get(access.interaction, "E"),
        "recorded": instant(now),
        "outcome": access.outcome,
        "agent": agents,
        "source": {"observer": {"display": "mc-adapter"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}]},
    }
    if access.description:
        event["outcomeDesc"] = access.description
    if entities:
        event["entity"] = entities
    return event, keys


def record(ctx, access: Access) -> None:
    """Append the AuditEvent of `access` in the context's transaction."""
    now = ctx.clock()
    event, keys = audit_event(ctx.caller, access, now=now)
    definition = ctx.registry.resource("AuditEvent")
    store.persist_new_many(ctx.session, definition=definition, resources=[event], now=now, base_url=ctx.config.fhir_base_url)
    insert_later(ctx.session.connection(), AuditEntity.__table__,
                 [{"event_id": event["id"], "entity": key[:400], "recorded": now} for key in keys])
