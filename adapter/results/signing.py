"""Signing an item (MC-R45, MC-R46): the item is done, and a Provenance says who signed what.

`POST /fhir/Task/{id}/$sign`. Only a practitioner with signing authority signs (an active
role with `signing-authority` true). The Provenance targets the signed resource's version,
names the signer as agent, and — when signing for a shared inbox — its unit as `onBehalfOf`
(DESIGN.md). Proxies, who sign on a principal's behalf, come with the proxy issue.
"""

from __future__ import annotations

from adapter.directory import lookups, shapes
from adapter.directory.inboxes import load_inboxes
from adapter.errors import Conflict, Forbidden, Issue, RuleViolation, UnprocessableResource
from adapter.fhir import service, store
from adapter.fhir.store import instant
from adapter.inbox.items import kinds_of
from adapter.inbox.rules import item_status
from adapter.mappings import code_system_url, table
from adapter.results import orders


def signable_kinds() -> set[str]:
    """Item kinds that are signed (mappings/signable_items.csv)."""
    return {row["item_kind"] for row in table("signable_items")}


def has_signing_authority(session, practitioner_id: str) -> bool:
    """True when one of the user's active roles carries signing authority."""
    for info in lookups.active_roles_of(session, practitioner_id=practitioner_id):
        authority = shapes.extension(info.resource, "signing-authority")
        if authority and authority.get("valueBoolean") is True:
            return True
    return False


def sign(ctx, task_id: str, parameters) -> tuple[int, dict]:
    """Complete the item and record the signature; returns the Provenance."""
    caller = ctx.caller
    if caller.kind != "user" or not caller.practitioner_id:
        raise Forbidden.simple("a practitioner signs, not a system")
    service.read(ctx, resource_type="Task", resource_id=task_id)  # 404 unless the caller sees the item
    current = store.load_current(ctx.session, resource_type="Task", resource_id=task_id, for_update=True)
    task = current.as_dict()
    kind = next(iter(kinds_of(task)), None)
    if kind not in signable_kinds():
        raise UnprocessableResource(Issue("business-rule", f"an item of kind {kind} is not signed; complete it instead", "Task.code"))
    if task["status"] == "completed":
        raise Conflict.simple("the item is already signed")
    if not has_signing_authority(ctx.session, caller.practitioner_id):
        raise RuleViolation("MC-R45", "Only a practitioner with signing authority may sign.",
                            "Endast den som har signeringsrätt kan signera.", "Task")
    focus = task.get("focus", {}).get("reference", "")
    target_type, _, target_id = focus.partition("/")
    target = store.load_current(ctx.session, resource_type=target_type, resource_id=target_id) if target_id else None
    if target is None:
        raise UnprocessableResource(Issue("not-found", "the item's focus no longer exists", "Task.focus"))
    now = ctx.clock()
    task["status"] = "completed"
    task["businessStatus"] = {"coding": [{"system": code_system_url("item-status"), "code": item_status("completed")}]}
    service.write(ctx.as_adapter(), definition=ctx.registry.resource("Task"), resource=task, resource_id=task_id, previous=current)
    signer = f"Practitioner/{caller.practitioner_id}"
    agent = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "attester"}]},
        "who": {"reference": signer},
    }
    owner = task["owner"]["reference"]
    if owner != signer:
        inbox = load_inboxes(ctx, [owner]).get(owner)
        agent["onBehalfOf"] = {"reference": owner if inbox is None or inbox.is_personal else f"Organization/{inbox.organization_id}"}
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": f"{target.reference}/_history/{target.version}"}],
        "recorded": instant(now),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion", "code": "LA",
                                 "display": "legally authenticated"}]},
        "agent": [agent],
        "entity": [{"role": "source", "what": {"reference": f"Task/{task_id}"}}],
    }
    stored = service.write(ctx.as_adapter(), definition=ctx.registry.resource("Provenance"), resource=provenance,
                           resource_id=service.new_id(), previous=None)
    if kind == "order-proposal" and target_type in ("ServiceRequest", "MedicationRequest"):
        orders.order_from_proposal(ctx, target)  # signing a proposal creates the order (MC-R15)
    return 200, stored.as_dict()
