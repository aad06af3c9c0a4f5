"""ServiceRequest (the order) and DiagnosticReport (the result)."""

from __future__ import annotations

from adapter.auth import visibility
from adapter.fhir import store
from adapter.fhir.registry import Operation, Registry, ResourceDefinition, SearchParam
from adapter.fhir.validation import parse_reference
from adapter.results import documents, orders, service, signing

R4 = "http://hl7.org/fhir/SearchParameter"


def _sees_result(ctx, report: dict) -> bool:
    """A result is seen by whoever sees the inbox its item is in (MC-R17: the orderer's), and by
    the systems that deliver and correct results."""
    if visibility.sees_everything(ctx) or ctx.caller.kind == "client":
        return True
    owner = service.item_owner(ctx, report["id"])
    return owner is not None and visibility.sees_inbox(ctx, owner)


def _sees_order(ctx, order: dict) -> bool:
    """An order (ServiceRequest or MedicationRequest) is seen by its requester, the practitioner
    responsible for it, whoever sees an item about it (a co-signer, a consult inbox), and ordering systems."""
    if visibility.sees_everything(ctx) or ctx.caller.kind == "client":
        return True
    if any(visibility.sees_inbox(ctx, ref) for ref in service.order_practitioners(order)):
        return True
    focus = f"{order['resourceType']}/{order['id']}"
    return any(visibility.sees_inbox(ctx, owner) for owner in service.item_owners(ctx, focus))


def _sees_provenance(ctx, provenance: dict) -> bool:
    """A signature is seen by whoever sees what was signed."""
    for target in provenance.get("target", []):
        parsed = parse_reference(target.get("reference", ""))
        definition = ctx.registry.resource(parsed[1]) if parsed else None
        stored = store.load_current(ctx.session, resource_type=parsed[1], resource_id=parsed[2]) if definition else None
        if stored is not None and definition.sees(ctx, stored.as_dict()):
            return True
    return visibility.sees_everything(ctx)


def _sees_document(ctx, document: dict) -> bool:
    """A document is seen by whoever sees an item about it, its authors, and the systems that file documents."""
    if visibility.sees_everything(ctx) or ctx.caller.kind == "client":
        return True
    authors = [a.get("reference") for a in document.get("author", [])]
    owners = service.item_owners(ctx, f"DocumentReference/{document['id']}")
    return any(visibility.sees_inbox(ctx, ref) for ref in [*authors, *owners] if ref)


def _order_definition(name: str) -> ResourceDefinition:
    """ServiceRequest and MedicationRequest: orders, proposals and consults (MC-R15, MC-R16, MC-R30)."""
    return ResourceDefinition(
        name=name,
        search_params={p.name: p for p in (
            SearchParam("identifier", "token", (f"{name}.identifier",), "The order's identifier", definition=f"{R4}/{name}-identifier"),
            SearchParam("requester", "reference", (f"{name}.requester",), "Who ordered", definition=f"{R4}/{name}-requester"),
        )},
        create_handler=orders.place_order,
        visible=_sees_order,
        interactions=("create", "read", "vread", "update", "search-type", "history-instance"),
    )


def register(registry: Registry) -> None:
    """Serve ServiceRequest and DiagnosticReport."""
    registry.add_resource(_order_definition("ServiceRequest"))
    registry.add_resource(_order_definition("MedicationRequest"))
    registry.add_resource(ResourceDefinition(
        name="DiagnosticReport",
        search_params={p.name: p for p in (
            SearchParam("identifier", "token", ("DiagnosticReport.identifier",), "The result's identifier", definition=f"{R4}/DiagnosticReport-identifier"),
            SearchParam("based-on", "reference", ("DiagnosticReport.basedOn",), "The order", definition=f"{R4}/DiagnosticReport-based-on"),
            SearchParam("subject", "reference", ("DiagnosticReport.subject",), "The patient (also subject:identifier)", definition=f"{R4}/DiagnosticReport-subject"),
        )},
        create_handler=service.deliver,
        after_write=service.after_update,
        visible=_sees_result,
        interactions=("create", "read", "vread", "update", "search-type", "history-instance"),
    ))
    registry.add_resource(ResourceDefinition(
        name="Provenance",
        search_params={"target": SearchParam("target", "reference", ("Provenance.target",), "What was signed",
                                             definition=f"{R4}/Provenance-target")},
        visible=_sees_provenance,
        interactions=("read", "vread", "search-type"),
    ))
    registry.add_operation(Operation(
        resource_type="Task", name="sign", handler=signing.sign,
        description="Sign the item: it is done, and a Provenance records who signed what (MC-R45, MC-R46)",
    ))
    registry.add_resource(ResourceDefinition(
        name="DocumentReference",
        search_params={p.name: p for p in (
            SearchParam("related", "reference", ("DocumentReference.context.related",), "The referral an answer belongs to",
                        definition=f"{R4}/DocumentReference-related"),
            SearchParam("subject", "reference", ("DocumentReference.subject",), "The patient (also subject:identifier)",
                        definition=f"{R4}/DocumentReference-subject"),
        )},
        create_handler=documents.file_document,
        visible=_sees_document,
        interactions=("create", "read", "vread", "search-type", "history-instance"),
    ))
