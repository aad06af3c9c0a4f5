"""Inbox items as Task: read and searched here; created by the adapter, never by clients (yet)."""

from __future__ import annotations

from adapter.fhir.registry import Registry, ResourceDefinition, SearchParam

R4 = "http://hl7.org/fhir/SearchParameter"


def register(registry: Registry) -> None:
    """Serve Task (read, vread, search, history)."""
    params = (
        SearchParam("owner", "reference", ("Task.owner",), "The inbox", targets=("Practitioner", "HealthcareService"), definition=f"{R4}/Task-owner"),
        SearchParam("focus", "reference", ("Task.focus",), "What the item is about", definition=f"{R4}/Task-focus"),
        SearchParam("code", "token", ("Task.code",), "The item-kind", definition=f"{R4}/Task-code"),
        SearchParam("status", "token", ("Task.status",), "requested, in-progress, on-hold, completed", definition=f"{R4}/Task-status"),
        SearchParam("business-status", "token", ("Task.businessStatus",), "The item-status", definition=f"{R4}/Task-business-status"),
        SearchParam("requester", "reference", ("Task.requester",), "Who sent it", definition=f"{R4}/Task-requester"),
        SearchParam("part-of", "reference", ("Task.partOf",), "The case an item belongs to", targets=("Task",), definition=f"{R4}/Task-part-of"),
        SearchParam("patient", "reference", ("Task.for",), "The patient (also patient:identifier)", definition=f"{R4}/Task-patient"),
        SearchParam("authored-on", "date", ("Task.authoredOn",), "When the item arrived", definition=f"{R4}/Task-authored-on"),
    )
    registry.add_resource(ResourceDefinition(
        name="Task",
        search_params={p.name: p for p in params},
        interactions=("read", "vread", "search-type", "history-instance"),
    ))
