"""AuditEvent: read and searched by revisors; written only by the adapter (append-only)."""

from __future__ import annotations

from adapter.audit import search
from adapter.fhir.registry import Registry, ResourceDefinition, SearchParam

R4 = "http://hl7.org/fhir/SearchParameter"


def register(registry: Registry) -> None:
    """Serve AuditEvent (read, search)."""
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
