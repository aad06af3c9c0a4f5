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
from adapter.errors import Forbidden, RuleViolation
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


def _acting_roles(ctx, practitioner_id: str):
    """The requester's active roles: only the assignment the caller acts under, when it is the requester."""
    caller = ctx.caller
    unit = caller.unit_hsa_id if caller.kind == "user" and caller.practitioner_id == practitioner_id else None
    return lookups.active_roles_of(ctx.session, practitioner_id=practitioner_id, unit_hsa_id=unit)


def _cosigner(ctx, order: dict) -> str | None:
    """Who co-signs this order, or None when its requester's orders need no co-signature (MC-R16).

    Every role that places orders has its row in mappings/cosign_roles.csv; a role without one, or
    a student (who proposes, MC-R15), places none.
    """
    requester_id = shapes.reference_id(order.get("requester"), "Practitioner")
    if requester_id is None:
        return None  # an order placed by the EHR on a unit's behalf
    rules = {row["role"]: row for row in table("cosign_roles")}
    roles = _acting_roles(ctx, requester_id)
    ordering = [r for r in roles if rules.get(r.role, {}).get("may_order") == "true"]
    if not ordering:
        if any(r.role == "student" for r in roles):
            raise RuleViolation("MC-R15", "Students propose orders (intent proposal); the responsible physician signs them.",
                                "Studenter ger ordinationsförslag; ansvarig läkare signerar.", "ServiceRequest.intent")
        raise RuleViolation("MC-R16", "The requester's role places no orders.",
                            "Beställarens roll ger inte ordinationer.", "ServiceRequest.requester")
    if any(rules[r.role]["cosigner"] == "none" for r in ordering):
        return None
    for info in ordering:
        if rules[info.role]["cosigner"] == "supervisor":
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


def _check_requester(ctx, order: dict) -> None:
    """A user orders as themself: the requester is the acting user (MC-R15, MC-R16). Of the system
    clients only the EHR integration places orders, on its users' behalf."""
    caller = ctx.caller
    mine = f"Practitioner/{caller.practitioner_id}" if caller.practitioner_id else None
    if caller.kind == "user":
        given = (order.get("requester") or {}).get("reference")
        if given not in (None, mine):
            raise RuleViolation("MC-R16", "The requester of an order is the user who places it.",
                                "Beställaren av en ordination är den som lägger den.",
                                f"{order['resourceType']}.requester")
        order["requester"] = {"reference": mine}
    elif caller.kind == "client" and not caller.can("ehr"):
        raise Forbidden.simple("orders come from users or the EHR integration (a client registered with capability ehr)")


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
    _check_requester(ctx, resource)
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
