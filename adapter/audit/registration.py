"""AuditEvent: read and searched by revisors; written only by the adapter (append-only)."""

from __future__ import annotations

from adapter.audit import search
from adapter.audit.service import Access, record
from adapter.fhir.registry import Registry, ResourceDefinition, SearchParam

R4 = "http://hl7.org/fhir/SearchParameter"


_OUTCOMES = {"delivered": "0", "transient": "4", "permanent": "8"}


def _delivery_attempted(ctx, *, entry, attempted) -> None:
    """Every delivery attempt is audited: what was sent where, and the outcome; never the body."""
    sent = entry.payload if entry.payload.get("resourceType") and entry.payload.get("id") else None
    record(ctx, Access(
        interaction="create", resources=[sent] if sent else [], outcome=_OUTCOMES.get(attempted.outcome, "8"),
        description=f"delivery {entry.id} attempt {entry.attempt} to {entry.destination}: {attempted.outcome} ({attempted.reason})",
    ))


def register(registry: Registry) -> None:
    """Serve AuditEvent (read, search); audit every delivery attempt."""
    registry.on("outbox-attempted", _delivery_attempted)
    params = (
        SearchParam("entity", "reference", (), "What was accessed (Communication/<id>, Task/<id>)", definition=f"{R4}/AuditEvent-entity"),
        SearchParam("agent", "reference", (), "Who: Practitioner/<id>, or a client's id", definition=f"{R4}/AuditEvent-agent"),
        SearchParam("patient", "token", (), "The patient, by identifier (a log extract for one patient)", definition=f"{R4}/AuditEvent-patient"),
        SearchParam("date", "date", (), "When it was recorded", definition=f"{R4}/AuditEvent-date"),
    )
    registry.add_resource(ResourceDefinition(
        name="AuditEvent",
        search_params={p.name: p for p in params},
        generic_index=False,
        visibility=search.visibility,
        search_handler=search.search_audit,
        interactions=("read", "search-type"),
    ))
