"""ServiceRequest (the order) and DiagnosticReport (the result)."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_
from sqlalchemy.orm import aliased

from adapter.auth import visibility
from adapter.directory import lookups
from adapter.fhir import access
from adapter.fhir.models import ReferenceIndex
from adapter.fhir.registry import Operation, OperationParameter, Registry, ResourceDefinition, SearchParam
from adapter.identifiers import BASE
from adapter.mappings import extension_url
from adapter.results import documents, orders, service, signing

R4 = "http://hl7.org/fhir/SearchParameter"


def _result_visibility(ctx, id_column):
    """A result is seen by whoever sees the inbox its item is in (MC-R17: the orderer's); a system
    client sees the results its organisation delivered, and those of the orders it placed."""
    if visibility.sees_everything(ctx):
        return None
    conditions = [visibility.carried_by_visible_item(ctx, resource_type="DiagnosticReport", id_column=id_column)]
    if ctx.caller.kind == "client":
        order = aliased(ReferenceIndex)
        conditions += [
            visibility.created_by_callers_organisation(ctx, resource_type="DiagnosticReport", id_column=id_column),
            exists().where(order.resource_type == "DiagnosticReport", order.resource_id == id_column,
                           order.param == "based-on", order.target_type == "ServiceRequest",
                           visibility.created_by_callers_organisation(ctx, resource_type="ServiceRequest",
                                                                      id_column=order.target_id)),
        ]
    return or_(*conditions)


def _order_visibility(resource_type: str):
    def hook(ctx, id_column):
        """An order is seen by its requester and the practitioner responsible for it, whoever sees an item
        that carries it (a co-signer, a consult inbox); a system client sees the orders its organisation
        placed, and those naming its organisation as performer (a result source answers them)."""
        if visibility.sees_everything(ctx):
            return None
        conditions = [
            visibility.refers_to_visible_inbox(ctx, resource_type=resource_type, params=("requester", "responsible"),
                                               id_column=id_column),
            visibility.carried_by_visible_item(ctx, resource_type=resource_type, id_column=id_column),
        ]
        if ctx.caller.kind == "client":
            conditions.append(visibility.created_by_callers_organisation(ctx, resource_type=resource_type, id_column=id_column))
            organization_id = lookups.organization_id_by_hsa(ctx.session, hsa_id=ctx.caller.organization_hsa_id)
            if organization_id:
                conditions.append(exists().where(
                    ReferenceIndex.resource_type == resource_type, ReferenceIndex.resource_id == id_column,
                    ReferenceIndex.param == "performer", ReferenceIndex.target_type == "Organization",
                    ReferenceIndex.target_id == organization_id))
        return or_(*conditions)
    return hook


def _provenance_visibility(ctx, id_column):
    """A signature is seen by whoever sees what was signed."""
    if visibility.sees_everything(ctx):
        return None
    target = aliased(ReferenceIndex)
    by_type = []
    for name, definition in sorted(ctx.registry.resources.items()):
        if name == "Provenance":
            continue
        seen = access.condition(ctx, definition, target.target_id)
        by_type.append(and_(target.target_type == name, *([seen] if seen is not None else [])))
    return exists().where(target.resource_type == "Provenance", target.resource_id == id_column,
                          target.param == "target", or_(*by_type))


def _document_visibility(ctx, id_column):
    """A document is seen by its authors, whoever sees an item that carries it, and the system client
    whose organisation filed it."""
    if visibility.sees_everything(ctx):
        return None
    return or_(
        visibility.refers_to_visible_inbox(ctx, resource_type="DocumentReference", params=("author",), id_column=id_column),
        visibility.carried_by_visible_item(ctx, resource_type="DocumentReference", id_column=id_column),
        visibility.created_by_callers_organisation(ctx, resource_type="DocumentReference", id_column=id_column),
    )


def _order_definition(name: str) -> ResourceDefinition:
    """ServiceRequest and MedicationRequest: orders, proposals and consults (MC-R15, MC-R16, MC-R30)."""
    return ResourceDefinition(
        name=name,
        search_params={p.name: p for p in (
            SearchParam("identifier", "token", (f"{name}.identifier",), "The order's identifier", definition=f"{R4}/{name}-identifier"),
            SearchParam("requester", "reference", (f"{name}.requester",), "Who ordered", definition=f"{R4}/{name}-requester"),
            SearchParam("responsible", "reference", (f"{name}.extension('{extension_url('responsible')}').valueReference",),
                        "The practitioner responsible for the order (MC-R17)", targets=("Practitioner",),
                        definition=f"{BASE}/SearchParameter/{name}-responsible"),
            SearchParam("performer", "reference", (f"{name}.performer",), "Who performs it (a lab, a consult inbox)",
                        definition=f"{R4}/{name}-performer"),
        )},
        create_handler=orders.place_order,
        visibility=_order_visibility(name),
        records_origin=True,
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
        visibility=_result_visibility,
        records_origin=True,
        interactions=("create", "read", "vread", "update", "search-type", "history-instance"),
    ))
    registry.add_resource(ResourceDefinition(
        name="Provenance",
        search_params={"target": SearchParam("target", "reference", ("Provenance.target",), "What was signed",
                                             definition=f"{R4}/Provenance-target")},
        visibility=_provenance_visibility,
        interactions=("read", "vread", "search-type"),
    ))
    registry.add_operation(Operation(
        resource_type="Task", name="sign", handler=signing.sign,
        description="Sign the item: it is done, and a Provenance records who signed what (MC-R45, MC-R46)",
        parameters=(OperationParameter("return", "out", "Provenance", "Who signed what, and when", min=1),),
    ))
    registry.add_resource(ResourceDefinition(
        name="DocumentReference",
        search_params={p.name: p for p in (
            SearchParam("related", "reference", ("DocumentReference.context.related",), "The referral an answer belongs to",
                        definition=f"{R4}/DocumentReference-related"),
            SearchParam("subject", "reference", ("DocumentReference.subject",), "The patient (also subject:identifier)",
                        definition=f"{R4}/DocumentReference-subject"),
            SearchParam("author", "reference", ("DocumentReference.author",), "Who wrote it",
                        definition=f"{R4}/DocumentReference-author"),
        )},
        create_handler=documents.file_document,
        visibility=_document_visibility,
        records_origin=True,
        interactions=("create", "read", "vread", "search-type", "history-instance"),
    ))
