"""Items created directly as Task: reminders by users (MC-R20, MC-R21), unsigned documentation by systems."""

from __future__ import annotations

from datetime import datetime, timedelta

from adapter.directory import shapes
from adapter.errors import Forbidden, Issue, RuleViolation, UnprocessableResource
from adapter.fhir import service
from adapter.fhir.dates import STOCKHOLM
from adapter.fhir.store import Stored
from adapter.inbox import rules
from adapter.inbox.items import kinds_of
from adapter.mappings import code_system_url, table
from adapter.directory.inboxes import resolve_inbox



def _kind(task: dict) -> str | None:
    found = kinds_of(task)
    return found[0] if len(found) == 1 else None


def due_after(kind: str, start: datetime) -> str | None:
    """The deadline a kind of item gets from its start (e.g. FK question/answer: two weeks, MC-R19)."""
    for row in table("item_deadlines"):
        if row["item_kind"] == kind:
            try:
                local = start.astimezone(STOCKHOLM) + timedelta(days=int(row["days"]))
            except OverflowError:
                return None  # a start at the calendar's end has no deadline after it
            return local.isoformat(timespec="seconds")
    return None


def _check_reminder(ctx, task: dict) -> None:
    if ctx.caller.kind != "user" and ctx.caller.kind != "sandbox-operator":
        raise Forbidden.simple("reminders are created by users")
    owner = resolve_inbox(ctx, task.get("owner"), expression="Task.owner")
    if not owner.is_personal:
        raise RuleViolation("MC-R20", "A reminder goes to a personal inbox (Work items).",
                            "En påminnelse hamnar i en personlig inkorg.", "Task.owner")
    requester = task.get("requester", {}).get("reference")
    if ctx.caller.kind == "user":
        mine = f"Practitioner/{ctx.caller.practitioner_id}"
        if requester not in (None, mine):
            raise Forbidden.simple("a user creates reminders as themself (requester)")
        task["requester"] = {"reference": mine}
        requester = mine
    if not task.get("restriction", {}).get("period", {}).get("end"):
        raise UnprocessableResource(Issue("required", "a reminder has a due date (restriction.period.end)", "Task.restriction"))
    if owner.reference != requester:
        # A reminder to someone else is an exchange between two users: the messaging domain checks it
        # against the same flow rules as a message (MC-R21 dialogue, MC-R7, MC-R3), nothing written before.
        held = shapes.extension(task, "dialogue-held")
        ctx.registry.emit(ctx, "reminder-to-other", owner=owner, requester=requester,
                          dialogue_held=bool(held and held.get("valueBoolean") is True))


def _check_unsigned_documentation(ctx, task: dict) -> None:
    # Clients never act in personal inboxes (mappings/access_rules.csv) but the region's EHR
    # integration, which files its users' unsigned documentation (MC-R20).
    if not (ctx.caller.can("ehr") or ctx.caller.kind in ("adapter", "sandbox-operator")):
        raise Forbidden.simple("unsigned documentation items come from the EHR (a client registered with capability ehr, MC-R20)")
    owner = resolve_inbox(ctx, task.get("owner"), expression="Task.owner")
    if not owner.is_personal:
        raise UnprocessableResource(Issue("invalid", "unsigned documentation belongs to its author's personal inbox", "Task.owner"))
    if not shapes.reference_id(task.get("focus"), "DocumentReference"):
        raise UnprocessableResource(Issue("required", "focus names the unsigned DocumentReference", "Task.focus"))


CREATORS = {"reminder": _check_reminder, "unsigned-documentation": _check_unsigned_documentation}


def create_task(ctx, *, resource: dict, resource_id: str | None = None) -> tuple[Stored, bool]:
    """`POST /fhir/Task`: the kinds users and systems create directly; others come from their flows."""
    kind = _kind(resource)
    if kind not in CREATORS:
        raise UnprocessableResource(Issue(
            "business-rule", f"items of kind {kind or '(none)'} are created by their own flow (messages, results, orders); "
            f"Task create takes {', '.join(sorted(CREATORS))}", "Task.code"))
    if resource.get("status") != "requested" or resource.get("intent") != "order":
        raise UnprocessableResource(Issue("invariant", "a new item has status requested and intent order", "Task.status"))
    CREATORS[kind](ctx, resource)
    if shapes.extension(resource, "delivery-state") is not None:
        raise UnprocessableResource(Issue("business-rule", "delivery-state is set by the adapter only", "Task.extension"))
    resource["businessStatus"] = {"coding": [{"system": code_system_url("item-status"), "code": rules.item_status("requested")}]}
    resource.setdefault("authoredOn", ctx.clock().isoformat())
    definition = ctx.registry.resource("Task")
    return service.write(ctx, definition=definition, resource=resource, resource_id=resource_id or service.new_id(), previous=None), True
