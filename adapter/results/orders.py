"""Orders (MC-R15, MC-R16) and consults (MC-R2, MC-R30): the items a ServiceRequest creates.

- `intent=proposal`: an `order-proposal` item for the physician named `responsible`; no
  activity until signed. Signing it creates the `intent=order` request `basedOn` the proposal.
- `intent=order` by a role the co-sign table marks (mappings/cosign_roles.csv): active at once,
  and an `order-cosign` item for the supervisor or for a physician named on the order; nobody
  to co-sign: 422.
- A consult (category `item-kind|consult`) goes to a function inbox as a `consult` item.
"""

from __future__ import annotations

from adapter.directory import lookups, shapes
from adapter.directory.inboxes import load_inboxes
from adapter.errors import RuleViolation
from adapter.fhir import service
from adapter.fhir.store import Stored
from adapter.inbox.items import NewItem, create_items
from adapter.mappings import code_system_url, table

CONSULT = (code_system_url("item-kind"), "consult")
PHYSICIAN = "lakare"


def _is_consult(order: dict) -> bool:
    return any((c.get("system"), c.get("code")) == CONSULT for cc in order.get("category", []) for c in cc.get("coding", []))


def _is_physician(session, reference: str | None) -> bool:
    practitioner_id = shapes.reference_id({"reference": reference or ""}, "Practitioner")
    return bool(practitioner_id) and any(
        r.role == PHYSICIAN for r in lookups.active_roles_of(session, practitioner_id=practitioner_id))


def _cosigner(ctx, order: dict) -> str | None:
    """Who co-signs this order, or None when its requester's orders need no co-signature (MC-R16)."""
    requester_id = shapes.reference_id(order.get("requester"), "Practitioner")
    if requester_id is None:
        return None  # an order placed by a system on a unit's behalf
    roles = lookups.active_roles_of(ctx.session, practitioner_id=requester_id)
    if any(r.role == PHYSICIAN for r in roles):
        return None
    rules = {row["role"]: row["cosigner"] for row in table("cosign_roles")}
    needs = [r for r in roles if r.role in rules]
    if not needs:
        return None
    for info in needs:
        if rules[info.role] == "supervisor":
            supervisor = shapes.extension(info.resource, "supervisor")
            reference = (supervisor or {}).get("valueReference", {}).get("reference")
            if reference:
                return reference
    responsible = shapes.extension(order, "responsible")
    named = (responsible or {}).get("valueReference", {}).get("reference")
    if named and _is_physician(ctx.session, named):
        return named
    raise RuleViolation("MC-R16", "Nobody can co-sign this order: name a physician as responsible, or give the trainee a supervisor.",
                        "Ingen kan kontrasignera ordinationen: ange ansvarig läkare.", "ServiceRequest.extension")


def _consult_inbox(ctx, order: dict) -> str:
    for performer in order.get("performer", []):
        reference = performer.get("reference", "")
        inbox = load_inboxes(ctx, [reference]).get(reference)
        if inbox is not None and inbox.kind == "function" and inbox.active:
            return reference
    raise RuleViolation("MC-R30", "A consult goes to a consult function inbox (performer: an open function HealthcareService).",
                        "En konsultation skickas till en funktionsinkorg för konsultationer.", "ServiceRequest.performer")


def place_order(ctx, *, resource: dict, resource_id: str | None = None) -> tuple[Stored, bool]:
    """`POST /fhir/ServiceRequest` or `MedicationRequest`: store the order and create the item it calls for."""
    items = []
    requester = (resource.get("requester") or {}).get("reference")
    if resource["resourceType"] == "ServiceRequest" and _is_consult(resource):
        items.append(NewItem(owner=_consult_inbox(ctx, resource), kind="consult", focus="", requester=requester,
                             patient=resource.get("subject"), priority=resource.get("priority")))
    elif resource.get("intent") == "proposal":
        responsible = (shapes.extension(resource, "responsible") or {}).get("valueReference", {}).get("reference")
        if not _is_physician(ctx.session, responsible):
            raise RuleViolation("MC-R15", "A proposed order names the physician who will sign it (responsible).",
                                "Ett ordinationsförslag anger ansvarig läkare som signerar.", "ServiceRequest.extension")
        items.append(NewItem(owner=responsible, kind="order-proposal", focus="", requester=requester,
                             patient=resource.get("subject"), priority=resource.get("priority")))
    elif resource.get("intent") == "order":
        cosigner = _cosigner(ctx, resource)
        if cosigner:
            items.append(NewItem(owner=cosigner, kind="order-cosign", focus="", requester=requester,
                                 patient=resource.get("subject"), priority=resource.get("priority")))
    definition = ctx.registry.resource(resource["resourceType"])
    stored = service.write(ctx, definition=definition, resource=resource, resource_id=resource_id or service.new_id(), previous=None)
    create_items(ctx, items=[NewItem(**{**item.__dict__, "focus": stored.reference}) for item in items])
    return stored, True


def order_from_proposal(ctx, proposal: Stored) -> Stored:
    """Signing a proposal (MC-R15): the order it proposed, `basedOn` it; the proposal is completed."""
    proposed = proposal.as_dict()
    order = {k: v for k, v in proposed.items() if k not in ("id", "meta", "basedOn")}
    order.update(intent="order", status="active", basedOn=[{"reference": proposal.reference}])
    definition = ctx.registry.resource(proposal.resource_type)
    stored = service.write(ctx.as_adapter(), definition=definition, resource=order, resource_id=service.new_id(), previous=None)
    proposed["status"] = "completed"
    service.write(ctx.as_adapter(), definition=definition, resource=proposed, resource_id=proposal.id, previous=proposal)
    return stored
