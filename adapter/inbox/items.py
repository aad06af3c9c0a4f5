"""Creating inbox items (`Task`, DESIGN.md) from trusted values: no re-validation on the hot path."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter.fhir import service, store
from adapter.fhir.store import Stored
from adapter.mappings import code_system_url, extension_url


@dataclass(frozen=True)
class NewItem:
    """What an item says: whose inbox, what kind, about what, from whom."""

    owner: str  # "Practitioner/<id>" or "HealthcareService/<id>"
    kind: str  # an item-kind code
    focus: str  # "Communication/<id>", ...
    requester: str | None = None
    patient: dict | None = None  # the Reference of the patient, as the focus names it
    priority: str | None = None
    part_of: tuple[str, ...] = ()
    case_party: str | None = None
    due: str | None = None  # restriction.period.end
    extensions: tuple[dict, ...] = field(default_factory=tuple)
    inputs: tuple[dict, ...] = ()  # Task.input: e.g. a delivery failure's recipient and reason
    description: str | None = None


def kinds_of(task: dict) -> list[str]:
    """The item-kind codes of a Task (one, once validated)."""
    system = code_system_url("item-kind")
    return [c.get("code") for c in (task.get("code") or {}).get("coding", []) if c.get("system") == system]


def item_resource(item: NewItem, *, authored_on: str) -> dict:
    """The Task of an item, waiting in its inbox."""
    task: dict = {
        "resourceType": "Task",
        "status": "requested",
        "businessStatus": {"coding": [{"system": code_system_url("item-status"), "code": "waiting"}]},
        "intent": "order",
        "code": {"coding": [{"system": code_system_url("item-kind"), "code": item.kind}]},
        "focus": {"reference": item.focus},
        "owner": {"reference": item.owner},
        "authoredOn": authored_on,
    }
    if item.patient:
        task["for"] = item.patient
    if item.priority:
        task["priority"] = item.priority
    if item.requester:
        task["requester"] = {"reference": item.requester}
    if item.due:
        task["restriction"] = {"period": {"end": item.due}}
    if item.part_of:
        task["partOf"] = [{"reference": ref} for ref in item.part_of]
    if item.description:
        task["description"] = item.description
    if item.inputs:
        task["input"] = list(item.inputs)
    extensions = list(item.extensions)
    if item.case_party:
        extensions.append({"url": extension_url("case-party"), "valueReference": {"reference": item.case_party}})
    if extensions:
        task["extension"] = extensions
    return task


def create_items(ctx, *, items: list[NewItem]) -> list[Stored]:
    """Store the items of one message together (one statement per table), in the caller's transaction."""
    if not items:
        return []
    definition = ctx.registry.resource("Task")
    authored_on = store.instant(ctx.clock())
    return service.write_new_many(ctx.as_adapter(), definition=definition,
                                  resources=[item_resource(item, authored_on=authored_on) for item in items])
