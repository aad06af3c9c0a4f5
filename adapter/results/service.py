"""A result goes to the personal inbox of whoever is responsible for its order, else who ordered it (MC-R17).

The order (`basedOn`) may be stored already, contained in the report, or earlier in the same
transaction Bundle. Nobody else gets the result in a personal inbox. A corrected result
(`amended`, `corrected`, `appended`) puts the same item back to waiting instead of adding one.
"""

from __future__ import annotations

from sqlalchemy import select

from adapter.directory import shapes
from adapter.directory.inboxes import load_inboxes
from adapter.errors import Forbidden, Issue, RuleViolation, UnprocessableResource
from adapter.fhir import service, store
from adapter.fhir.store import Stored
from adapter.inbox.items import NewItem, create_items
from adapter.inbox.models import InboxItem
from adapter.inbox.rules import item_status
from adapter.mappings import code_system_url

CORRECTIONS = {"amended", "corrected", "appended"}


def _order(ctx, report: dict) -> dict:
    based_on = report.get("basedOn") or []
    if not based_on:
        raise RuleViolation("MC-R17", "A result names the order it answers (basedOn a ServiceRequest).",
                            "Ett resultat anger sin beställning (basedOn).", "DiagnosticReport.basedOn")
    reference = based_on[0].get("reference", "")
    if reference.startswith("#"):
        for contained in report.get("contained", []):
            if contained.get("id") == reference[1:] and contained.get("resourceType") == "ServiceRequest":
                return contained
        raise UnprocessableResource(Issue("not-found", f"no contained ServiceRequest {reference}", "DiagnosticReport.basedOn[0]"))
    order_id = shapes.reference_id(based_on[0], "ServiceRequest")
    stored = store.load_current(ctx.session, resource_type="ServiceRequest", resource_id=order_id) if order_id else None
    if stored is None:
        raise UnprocessableResource(Issue("not-found", "basedOn names no stored ServiceRequest", "DiagnosticReport.basedOn[0]"))
    return stored.as_dict()


def orderer_inbox(ctx, order: dict) -> str:
    """`responsible` on the order, else its `requester`: a Practitioner with a personal inbox (MC-R17)."""
    for reference in order_practitioners(order):
        inbox = load_inboxes(ctx, [reference]).get(reference)
        if inbox is not None and inbox.active:
            return reference
    raise RuleViolation("MC-R17", "The order names no practitioner to receive the result (responsible or requester).",
                        "Beställningen anger ingen ansvarig eller beställare som kan ta emot resultatet.",
                        "DiagnosticReport.basedOn[0]")


def result_item(ctx, report_id: str):
    """(task_id, owner) of a result's item, or None."""
    table = InboxItem.__table__
    return ctx.session.connection().execute(
        select(table.c.task_id, table.c.owner).where(table.c.focus == f"DiagnosticReport/{report_id}", table.c.kind == "result")
    ).first()


def item_owner(ctx, report_id: str) -> str | None:
    """The inbox a result's item is in."""
    row = result_item(ctx, report_id)
    return row.owner if row else None


def item_owners(ctx, focus: str) -> list[str]:
    """The inboxes holding items about `focus`."""
    table = InboxItem.__table__
    return list(ctx.session.connection().execute(select(table.c.owner).where(table.c.focus == focus)).scalars())


def order_practitioners(order: dict) -> list[str]:
    """The personal inboxes an order names: responsible and requester."""
    responsible = shapes.extension(order, "responsible")
    refs = [(responsible or {}).get("valueReference", {}).get("reference"), (order.get("requester") or {}).get("reference")]
    return [r for r in refs if isinstance(r, str) and r.startswith("Practitioner/")]


def check_result_source(ctx) -> None:
    """Results come only from systems registered as result sources (lab, imaging, functional
    diagnostics), or the adapter itself; their contained orders are trusted for that (MC-R17)."""
    if not (ctx.caller.can("result-source") or ctx.caller.kind in ("adapter", "sandbox-operator")):
        raise Forbidden.simple("results are delivered by systems registered as result sources (capability result-source, MC-R17)")


def deliver(ctx, *, resource: dict, resource_id: str | None = None) -> tuple[Stored, bool]:
    """`POST /fhir/DiagnosticReport`: store the result and put it in the orderer's inbox."""
    check_result_source(ctx)
    order = _order(ctx, resource)
    owner = orderer_inbox(ctx, order)
    definition = ctx.registry.resource("DiagnosticReport")
    stored = service.write(ctx, definition=definition, resource=resource, resource_id=resource_id or service.new_id(), previous=None)
    create_items(ctx, items=[NewItem(owner=owner, kind="result", focus=stored.reference,
                                     requester=(order.get("requester") or {}).get("reference"),
                                     patient=resource.get("subject"), priority=order.get("priority"))])
    return stored, True


def after_update(ctx, report: dict, previous: dict | None) -> None:
    """A corrected result puts its item back to waiting (DiagnosticReport `after_write`)."""
    if previous is None or report.get("status") not in CORRECTIONS:
        return
    row = result_item(ctx, report["id"])
    if row is None:
        return
    task_id = row.task_id
    current = store.load_current(ctx.session, resource_type="Task", resource_id=task_id, for_update=True)
    task = current.as_dict()
    if task["status"] == "requested" and not shapes.extension(task, "trashed"):
        return
    task["status"] = "requested"
    task["businessStatus"] = {"coding": [{"system": code_system_url("item-status"), "code": item_status("requested")}]}
    kept = [e for e in task.pop("extension", []) if not e.get("url", "").endswith("/trashed")]
    if kept:
        task["extension"] = kept
    service.write(ctx.as_adapter(), definition=ctx.registry.resource("Task"), resource=task, resource_id=task_id, previous=current)
