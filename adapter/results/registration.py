"""ServiceRequest (the order) and DiagnosticReport (the result)."""

from __future__ import annotations

from adapter.auth import visibility
from adapter.fhir.registry import Registry, ResourceDefinition, SearchParam
from adapter.results import service

R4 = "http://hl7.org/fhir/SearchParameter"


def _sees_result(ctx, report: dict) -> bool:
    """A result is seen by whoever sees the inbox its item is in (MC-R17: the orderer's), and by
    the systems that deliver and correct results."""
    if visibility.sees_everything(ctx) or ctx.caller.kind == "client":
        return True
    owner = service.item_owner(ctx, report["id"])
    return owner is not None and visibility.sees_inbox(ctx, owner)


def _sees_order(ctx, order: dict) -> bool:
    """An order is seen by its requester, the practitioner responsible for it, and the systems that send orders."""
    if visibility.sees_everything(ctx) or ctx.caller.kind == "client":
        return True
    return any(visibility.sees_inbox(ctx, ref) for ref in service.order_practitioners(order))


def register(registry: Registry) -> None:
    """Serve ServiceRequest and DiagnosticReport."""
    registry.add_resource(ResourceDefinition(
        name="ServiceRequest",
        search_params={p.name: p for p in (
            SearchParam("identifier", "token", ("ServiceRequest.identifier",), "The order's identifier", definition=f"{R4}/ServiceRequest-identifier"),
            SearchParam("requester", "reference", ("ServiceRequest.requester",), "Who ordered", definition=f"{R4}/ServiceRequest-requester"),
        )},
        visible=_sees_order,
        interactions=("create", "read", "vread", "update", "search-type", "history-instance"),
    ))
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
