"""Updating an item (PUT or JSON Patch): what a recipient may change, and what follows from it.

A recipient may change only `status`, `businessStatus`, the `assignee` and `trashed` extensions
and `note` (DESIGN.md); a `priority` change by anyone but the sender is MC-R25. The adapter
keeps `businessStatus` in step with `status`, stamps `trashed`, and on opening a waiting
message whose sender asked for one, puts a read receipt in the sender's Notifications (MC-R22).
"""

from __future__ import annotations

from adapter.directory import shapes
from adapter.auth import visibility
from adapter.errors import Issue, NotFound, RuleViolation, UnprocessableResource
from adapter.fhir import store
from adapter.fhir.store import instant
from adapter.inbox import rules
from adapter.inbox.items import NewItem, create_items
from adapter.mappings import code_system_url, extension_url
from adapter.directory.inboxes import is_member, resolve_inbox

RECIPIENT_ELEMENTS = {"status", "businessStatus", "note", "extension", "id", "meta", "resourceType"}
RECIPIENT_EXTENSIONS = {extension_url("assignee"), extension_url("trashed")}
ITEM_STATUS = code_system_url("item-status")
# Set by the adapter only (adapter/messaging/delivery.py); an update carries the stored value over,
# so that a recipient's PUT of a copy read before the delivery finished is not refused for it.
ADAPTER_EXTENSIONS = {extension_url("delivery-state")}


def _caller_practitioner(ctx) -> str | None:
    return f"Practitioner/{ctx.caller.practitioner_id}" if ctx.caller.practitioner_id else None


def check_may_handle(ctx, owner_ref: str) -> None:
    """Whoever sees the inbox handles its items; to anyone else they do not exist (404)."""
    if not visibility.sees_inbox(ctx, owner_ref):
        raise NotFound.simple("no such item in an inbox the caller sees")


def _others(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in RECIPIENT_ELEMENTS}


def _extensions_except_recipients(resource: dict) -> list:
    return [e for e in resource.get("extension", []) if e.get("url") not in RECIPIENT_EXTENSIONS | ADAPTER_EXTENSIONS]


def _keep_adapter_extensions(task: dict, previous: dict) -> None:
    kept = [e for e in task.get("extension", []) if e.get("url") not in ADAPTER_EXTENSIONS]
    kept += [e for e in previous.get("extension", []) if e.get("url") in ADAPTER_EXTENSIONS]
    if kept:
        task["extension"] = kept
    else:
        task.pop("extension", None)


def _check_changed_elements(ctx, task: dict, previous: dict) -> None:
    if task.get("priority") != previous.get("priority"):
        if _caller_practitioner(ctx) is None or _caller_practitioner(ctx) != previous.get("requester", {}).get("reference"):
            raise RuleViolation("MC-R25", "Priority is set by the sender; the recipient cannot change it.",
                                "Prioritet sätts av avsändaren; mottagaren kan inte ändra den.", "Task.priority")
    before, after = _others(previous), _others(task)
    before.pop("priority", None)
    after.pop("priority", None)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if _extensions_except_recipients(task) != _extensions_except_recipients(previous):
        changed.append("extension")
    if changed:
        raise UnprocessableResource(Issue(
            "business-rule",
            "a recipient may change only status, businessStatus, the assignee and trashed extensions and note",
            f"Task.{changed[0]}",
        ))


def _keep_business_status_in_step(task: dict, previous: dict) -> None:
    wanted = rules.item_status(task["status"])
    given = [c.get("code") for c in task.get("businessStatus", {}).get("coding", []) if c.get("system") == ITEM_STATUS]
    previous_given = [c.get("code") for c in previous.get("businessStatus", {}).get("coding", []) if c.get("system") == ITEM_STATUS]
    if given and given != previous_given and given[0] != wanted:
        raise UnprocessableResource(Issue("invariant", f"businessStatus {given[0]} does not go with status {task['status']} ({wanted})",
                                          "Task.businessStatus"))
    task["businessStatus"] = {"coding": [{"system": ITEM_STATUS, "code": wanted}]}


def _check_assignee(ctx, task: dict, previous: dict) -> None:
    ext = shapes.extension(task, "assignee")
    if ext == shapes.extension(previous, "assignee") or ext is None:
        return
    owner = resolve_inbox(ctx, task["owner"], expression="Task.owner")
    practitioner_id = shapes.reference_id(ext.get("valueReference"), "Practitioner")
    if owner.is_personal:
        raise RuleViolation("MC-R37", "Only items in a shared inbox are assigned.",
                            "Endast objekt i en delad inkorg kan tilldelas.", "Task.extension")
    if practitioner_id is None or not is_member(ctx, practitioner_id=practitioner_id, inbox=owner):
        raise RuleViolation("MC-R37", "An item is assigned to a member of its shared inbox.",
                            "Objekt kan endast tilldelas medlemmar i den delade inkorgen.", "Task.extension")


def _stamp_trash(ctx, task: dict, previous: dict) -> None:
    ext = shapes.extension(task, "trashed")
    before = shapes.extension(previous, "trashed")
    if ext is not None and before is None:
        ext.pop("valueDateTime", None)
        ext["valueDateTime"] = instant(ctx.clock())  # the purge counts 30 days from the server's time (MC-R22)
    elif ext is not None and before is not None:
        ext["valueDateTime"] = before["valueDateTime"]


def _read_receipt(ctx, task: dict, previous: dict) -> None:
    """Opening a waiting message whose sender asked for a read receipt notifies the sender (MC-R22)."""
    if not (previous["status"] == "requested" and task["status"] == "in-progress"):
        return
    focus_id = shapes.reference_id(task.get("focus"), "Communication")
    message = store.load_current(ctx.session, resource_type="Communication", resource_id=focus_id) if focus_id else None
    if message is None:
        return
    communication = message.as_dict()
    requested = shapes.extension(communication, "read-receipt-requested")
    if not (requested and requested.get("valueBoolean") is True):
        return
    create_items(ctx, items=[NewItem(
        owner=communication["sender"]["reference"], kind="read-receipt", focus=message.reference,
        requester=_caller_practitioner(ctx) or task["owner"]["reference"], patient=communication.get("subject"),
    )])


def task_profile(ctx, task: dict, previous: dict | None) -> None:
    """The Task profile on update (creates go through `adapter.inbox.tasks.create_task`)."""
    if previous is None:
        return
    check_may_handle(ctx, previous["owner"]["reference"])
    _keep_adapter_extensions(task, previous)
    _check_changed_elements(ctx, task, previous)
    rules.check_transition(previous["status"], task["status"])
    _keep_business_status_in_step(task, previous)
    _check_assignee(ctx, task, previous)
    _stamp_trash(ctx, task, previous)
    _read_receipt(ctx, task, previous)
