"""`/ui/inbox` and `/ui/write` (sandbox mode): a synthetic user's inboxes and folders (MC-R13), opening an item
(MC-R26), and writing a message that the flow policy may refuse (the rule, in English and Swedish).

Everything goes through the services the FHIR API uses, as the signed-in user: the same
visibility, the same flow policy, the same audit records; a refused message stores nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from flask import abort, g, redirect, render_template, request, url_for

from adapter.audit import http as audit
from adapter.auth import visibility
from adapter.directory import lookups
from adapter.directory.models import InboxEntry
from adapter.errors import AdapterError, NotFound
from adapter.fhir import service, store
from adapter.http.unit_of_work import commit, context, state
from adapter.http.unit_of_work import session as db_session
from adapter.identifiers import BASE
from adapter.inbox import feed
from adapter.mappings import codes
from adapter.ui.views import blueprint, signed_in_caller

FOLDERS = ("messages", "results", "orders", "documents", "work-items", "priority", "notifications", "trash")
CATEGORIES = ("message", "case-start", "reminder")
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SYNTHETIC_PATIENT = "191212121212"  # Tolvan Tolvansson, Skatteverket's test person


def _ctx():
    if not state().config.sandbox:  # the inbox pages are the sandbox's; production users have Millennium
        abort(404)
    caller = signed_in_caller()
    if caller is None:
        return None
    g.caller = caller  # the audit trail names who looked
    return context(caller)


def _my_inboxes(ctx) -> list[str]:
    visible = visibility.visible_inboxes(ctx) or frozenset()
    own = f"Practitioner/{ctx.caller.practitioner_id}"
    return [own] + sorted(r for r in visible if r != own)


@blueprint.get("/inbox")
def inbox():
    ctx = _ctx()
    if ctx is None:
        return redirect(url_for("ui.signin"))
    mine = _my_inboxes(ctx)
    chosen = request.args.get("inbox") or mine[0]
    folder = request.args.get("folder") or "messages"
    if chosen not in mine or folder not in FOLDERS:
        abort(404)
    _, stored = feed.search_tasks(ctx, params=[("owner", chosen), ("folder", folder), ("_count", "50")], strict=False,
                                  cursors=state().cursors())
    tasks = [s.as_dict() for s in stored if s.resource_type == "Task"]
    focus_ids = sorted({t["focus"]["reference"].split("/", 1)[1] for t in tasks
                        if t.get("focus", {}).get("reference", "").startswith("Communication/")})
    messages = store.load_many(db_session(), resource_type="Communication", ids=focus_ids)
    audit.after_read("Task", "search", tasks + [m.as_dict() for m in messages.values()])
    items = [_item_view(t, messages) for t in tasks]
    return render_template("inbox.html", inboxes=lookups.inbox_names(db_session(), mine), mine=mine, chosen=chosen, folder=folder,
                           folders=FOLDERS, items=items, sent=request.args.get("sent"))


def _item_view(task: dict, messages: dict) -> dict:
    focus = task.get("focus", {}).get("reference", "")
    message = messages.get(focus.split("/", 1)[1]) if focus.startswith("Communication/") else None
    text = None
    if message is not None:
        text = next((p.get("contentString") for p in message.as_dict().get("payload", []) if p.get("contentString")), None)
    return {"id": task["id"], "version": task["meta"]["versionId"], "status": task["status"],
            "business": (task.get("businessStatus", {}).get("coding") or [{}])[0].get("code"),
            "kind": (task.get("code", {}).get("coding") or [{}])[0].get("code"), "priority": task.get("priority"),
            "authored": (task.get("authoredOn") or task["meta"]["lastUpdated"])[:16].replace("T", " "), "text": text}


@blueprint.post("/items/<item_id>/open")
def open_item(item_id: str):
    ctx = _ctx()
    if ctx is None:
        return redirect(url_for("ui.signin"))
    current = store.load_current(db_session(), resource_type="Task", resource_id=item_id)
    if current is None:
        raise NotFound.simple("no such item")
    stored, _ = service.patch(ctx, resource_type="Task", resource_id=item_id, if_match=current.version,
                              operations=[{"op": "replace", "path": "/status", "value": "in-progress"}])
    audit.within_write(ctx, "Task", "patch", [stored.as_dict()])
    commit()
    return redirect(url_for("ui.inbox", inbox=request.form.get("inbox"), folder=request.form.get("folder")))


def _recipients() -> list[str]:
    return list(db_session().execute(select(InboxEntry.reference).where(InboxEntry.active.is_(True))
                                     .order_by(InboxEntry.reference).limit(500)).scalars())


@blueprint.route("/write", methods=["GET", "POST"])
def write():
    ctx = _ctx()
    if ctx is None:
        return redirect(url_for("ui.signin"))
    senders = _my_inboxes(ctx)
    recipients = _recipients()
    names = lookups.inbox_names(db_session(), sorted(set(senders) | set(recipients)))
    form = request.form if request.method == "POST" else {}
    refusal = None
    if request.method == "POST":
        try:
            stored = _send(ctx, form, senders)
        except AdapterError as exc:
            db_session().rollback()  # nothing of a refused message is stored
            refusal = [{"rule": i.rule, "english": i.text or i.diagnostics, "swedish": i.diagnostics if i.rule else None}
                       for i in exc.issues]
        else:
            audit.within_write(ctx, "Communication", "create", [stored.as_dict()])
            commit()
            return redirect(url_for("ui.inbox", inbox=form["sender"], folder="notifications", sent=stored.id))
    return render_template("write.html", senders=senders, recipients=recipients, names=names, categories=CATEGORIES,
                           form=form, refusal=refusal), (422 if refusal else 200)


def _send(ctx, form, senders: list[str]):
    sender, recipient, category = form.get("sender"), form.get("recipient"), form.get("category")
    if sender not in senders or not recipient or category not in codes("message-category"):
        abort(400, "choose a sender you may send as, a recipient and a category")
    extensions = []
    if sender.startswith("HealthcareService/"):  # MC-R38: a shared inbox's message names who sent it
        extensions.append({"url": f"{BASE}/StructureDefinition/sent-by",
                           "valueReference": {"reference": f"Practitioner/{ctx.caller.practitioner_id}"}})
    resource = {
        "resourceType": "Communication", "status": "completed",
        "identifier": [{"system": f"{BASE}/NamingSystem/ui-message", "value": str(uuid.uuid4())}],
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": category}]}],
        "sender": {"reference": sender}, "recipient": [{"reference": recipient}],
        "payload": [{"contentString": (form.get("text") or "").strip()[:4000] or "–"}],
    }
    if form.get("patient"):
        resource["subject"] = {"identifier": {"system": PERSONNUMMER, "value": SYNTHETIC_PATIENT}}
    if form.get("save_to_journal"):
        extensions.append({"url": f"{BASE}/StructureDefinition/save-to-journal", "valueBoolean": True})
    if extensions:
        resource["extension"] = extensions
    stored, _ = service.create(ctx, resource=resource, expected_type="Communication", if_none_exist=None)
    return stored
