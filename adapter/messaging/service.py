"""Sending a Communication: checked against the routine, stored, and one item per recipient inbox.

All in the caller's transaction: a refused message leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select

from adapter.auth import visibility
from adapter.directory import shapes
from adapter.errors import Conflict, Forbidden, Issue, RuleViolation, UnprocessableResource
from adapter.fhir import dates, service, store
from adapter.fhir.store import Stored
from adapter.inbox.items import NewItem, create_items, kinds_of
from adapter.inbox.tasks import due_after
from adapter.mappings import code_system_url, codes, extension_url, table
from adapter.directory.inboxes import Inbox, is_member, load_inboxes, resolve_inbox
from adapter.messaging import delivery, exchange, parties
from adapter.messaging.models import JournalForward, Message
from adapter.messaging.read_ahead import original_read_ahead
from adapter.messaging.policy import FlowPolicy
from adapter.writes import insert_later

CATEGORY = code_system_url("message-category")


@dataclass(frozen=True)
class Route:
    """What the checks decided: who sent, to which inboxes, as what kind of item."""

    sender: Inbox
    recipients: list[Inbox]
    requester: str | None
    item_kind: str
    thread_id: str | None
    case_id: str | None


def _fail(message: str, expression: str, code: str = "invariant") -> UnprocessableResource:
    return UnprocessableResource(Issue(code, message, expression))


def content_hash(resource: dict) -> str:
    """The sender's content, as normalised on arrival (the server's id and meta left out)."""
    content = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _category(resource: dict) -> str:
    found = [c.get("code") for cc in resource.get("category", []) for c in cc.get("coding", []) if c.get("system") == CATEGORY]
    if len(found) != 1:
        raise _fail(f"exactly one category from {CATEGORY} is required", "Communication.category", "required")
    if found[0] not in codes("message-category"):
        raise _fail(f"'{found[0]}' is not a message-category", "Communication.category", "code-invalid")
    return found[0]


def _flag(resource: dict, name: str) -> bool:
    ext = shapes.extension(resource, name)
    return bool(ext and ext.get("valueBoolean") is True)


def _set_flag(resource: dict, name: str) -> None:
    ext = shapes.extension(resource, name)
    if ext is None:
        resource.setdefault("extension", []).append({"url": extension_url(name), "valueBoolean": True})
    else:
        ext["valueBoolean"] = True


KEY_LENGTH = 255  # the duplicate key's columns (message.system, message.value)


def message_key(resource: dict) -> tuple[str, str, str] | None:
    """The duplicate key of a message: (sender, identifier system, value), or None when it has none."""
    sender = (resource.get("sender") or {}).get("reference")
    for position, ident in enumerate(resource.get("identifier", [])):
        if ident.get("system") and ident.get("value") and sender:
            if len(ident["system"]) > KEY_LENGTH or len(ident["value"]) > KEY_LENGTH:
                raise _fail(f"the message identifier's system and value have at most {KEY_LENGTH} characters each",
                            f"Communication.identifier[{position}]", "too-long")
            return sender, ident["system"], ident["value"]
    return None


_BY_KEY = select(Message.__table__.c.communication_id, Message.__table__.c.content_hash).where(
    Message.__table__.c.sender == bindparam("sender"), Message.__table__.c.system == bindparam("system"),
    Message.__table__.c.value == bindparam("value"))


def find_original(ctx, resource: dict) -> Stored | None:
    """A retry of a stored message: the original (200). The same key with other content: 409."""
    key = message_key(resource)
    if key is None:
        return None
    read, row = original_read_ahead(ctx.session, key)
    if not read:
        found = ctx.session.connection().execute(_BY_KEY, {"sender": key[0], "system": key[1], "value": key[2]}).first()
        row = found._asdict() if found is not None else None
    if row is None:
        return None
    if row["content_hash"] != content_hash(resource):
        raise Conflict.simple(
            f"{key[0]} already sent a message with identifier {key[1]}|{key[2]} and other content",
            expression="Communication.identifier",
        )
    return store.load_current(ctx.session, resource_type="Communication", resource_id=row["communication_id"])


def _authorize_sender(ctx, sender: Inbox, sent_by: str | None) -> None:
    """The caller sends as itself, or as a shared inbox it belongs to naming itself (MC-R38):
    mappings/access_rules.csv, column `sends_as`."""
    caller = ctx.caller
    if not visibility.sends_as(ctx, sender.reference):
        raise Forbidden.simple("the caller may not send as this inbox")
    if caller.kind == "user" and not sender.is_personal and sent_by != caller.practitioner_id:
        raise Forbidden.simple("a member sends from a shared inbox naming themself (sent-by)")


def _sent_by(ctx, resource: dict, sender: Inbox, category_is_system: bool) -> str | None:
    """The member who sent from a shared inbox (MC-R38); a system client's system message needs none."""
    ext = shapes.extension(resource, "sent-by")
    practitioner_id = shapes.reference_id((ext or {}).get("valueReference"), "Practitioner")
    if sender.is_personal:
        if ext is not None:
            raise _fail("sent-by is for messages from a shared inbox", "Communication.extension")
        return None
    if practitioner_id is None:
        if category_is_system and ctx.caller.kind in ("client", "adapter"):
            return None
        raise RuleViolation("MC-R38", "A message from a shared inbox names the member who sent it (extension sent-by).",
                            "Meddelanden från en delad inkorg visar vem som skickade dem (sent-by).", "Communication.extension")
    if not is_member(ctx, practitioner_id=practitioner_id, inbox=sender):
        raise RuleViolation("MC-R38", "sent-by is not a member of the sending shared inbox.",
                            "Avsändaren (sent-by) är inte medlem i den delade inkorgen.", "Communication.extension")
    return practitioner_id


def _thread(ctx, resource: dict) -> tuple[str | None, dict | None]:
    """(thread id, the message answered) for a reply; None for a new thread."""
    answered = resource.get("inResponseTo") or []
    if not answered:
        return None, None
    parent_id = shapes.reference_id(answered[0], "Communication")
    parent = store.load_current(ctx.session, resource_type="Communication", resource_id=parent_id) if parent_id else None
    if parent is None:
        raise _fail("inResponseTo names a Communication that does not exist", "Communication.inResponseTo[0]", "not-found")
    thread_id = ctx.session.connection().execute(
        select(Message.__table__.c.thread_id).where(Message.__table__.c.communication_id == parent_id)
    ).scalar() or parent_id
    return thread_id, parent.as_dict()


def _follow_saved_thread(ctx, resource: dict, thread_ids: list[str]) -> None:
    """Once any message of a thread or case is saved to the record, all later ones are (MC-R8)."""
    table = Message.__table__
    wanted = [t for t in thread_ids if t]
    if wanted and ctx.session.connection().execute(
        select(exists().where(table.c.thread_id.in_(wanted), table.c.save_to_journal.is_(True)))
    ).scalar():
        _set_flag(resource, "save-to-journal")


def _case(ctx, resource: dict, sender: Inbox) -> tuple[str, list[str], str | None]:
    """The case a case-message continues, its parties, and the thread its case-start began (MC-R3)."""
    part_of = resource.get("partOf") or []
    case_id = shapes.reference_id(part_of[0], "Task") if part_of else None
    case = store.load_current(ctx.session, resource_type="Task", resource_id=case_id) if case_id else None
    if case is None or "case" not in kinds_of(case.as_dict()):
        raise RuleViolation("MC-R3", "A case-message continues a case: partOf names the case (a Task of kind case).",
                            "Ett ärendemeddelande hör till ett ärende (partOf).", "Communication.partOf")
    task = case.as_dict()
    party = shapes.extension(task, "case-party")
    parties = [task["owner"]["reference"]] + ([party["valueReference"]["reference"]] if party else [])
    if sender.reference not in parties:
        raise RuleViolation("MC-R3", "Only the parties of a case write in it.",
                            "Endast ärendets parter kan skriva i ärendet.", "Communication.sender")
    start_id = shapes.reference_id(task.get("focus"), "Communication")
    case_thread = ctx.session.connection().execute(
        select(Message.__table__.c.thread_id).where(Message.__table__.c.communication_id == start_id)
    ).scalar() if start_id else None
    return case_id, parties, case_thread


def _recipients(ctx, resource: dict, *, parent: dict | None, case_parties: list[str] | None, sender: Inbox) -> list[Inbox]:
    given = resource.get("recipient") or []
    if not given and case_parties is not None:
        given = [{"reference": ref} for ref in case_parties if ref != sender.reference]
        resource["recipient"] = given
    if not given:
        if parent is not None and (parent.get("sender") or {}).get("reference", "").startswith("HealthcareService/"):
            raise RuleViolation("MC-R38", "A reply to a message from a shared inbox names its recipient explicitly.",
                                "Den som svarar ska aktivt välja mottagare.", "Communication.recipient")
        raise _fail("at least one recipient inbox is required", "Communication.recipient", "required")
    inboxes: list[Inbox] = []
    for position, reference in enumerate(given):
        where = f"Communication.recipient[{position}]"
        inbox = resolve_inbox(ctx, reference, expression=where)
        if not inbox.active:
            raise RuleViolation("MC-R31", "The recipient inbox is closed; nothing new can be delivered to it.",
                                "Mottagarens inkorg är stängd.", where)
        if case_parties is not None and inbox.reference not in case_parties:
            raise RuleViolation("MC-R3", "A case message reaches the parties of the case only.",
                                "Ärendemeddelanden går endast till ärendets parter.", where)
        if inbox.reference not in {i.reference for i in inboxes}:
            inboxes.append(inbox)
    return inboxes


def plan(ctx, resource: dict, policy: FlowPolicy) -> Route:
    """Check the message against our profile and the routine; return where it goes (or raise).

    The message is read once into an `Exchange` (who acts, from which inbox, to whom, about
    what), the pure policy decides on it, and only then is anything written.
    """
    # Status, identifier, sender and category cardinality are the mc-communication profile's (fhir/profiles.py).
    if message_key(resource) is None:
        raise _fail("identifier (the sending system's id for the message) and sender are required",
                    "Communication.identifier", "required")
    category = _category(resource)
    row = next(r for r in table("category_items") if r["category"] == category)
    named = [resource.get("sender", {}).get("reference")] + [r.get("reference") for r in resource.get("recipient", [])]
    load_inboxes(ctx, [r for r in named if isinstance(r, str)])  # one query for every inbox of the message
    sender = resolve_inbox(ctx, resource.get("sender"), expression="Communication.sender")
    if not sender.active:
        raise RuleViolation("MC-R31", "The sending inbox is closed.", "Avsändarens inkorg är stängd.", "Communication.sender")
    sent_by = _sent_by(ctx, resource, sender, row["system_category"] == "true")
    _authorize_sender(ctx, sender, sent_by)
    thread_id, parent = _thread(ctx, resource)
    case_id, case_parties, case_thread = _case(ctx, resource, sender) if category == "case-message" else (None, None, None)
    _follow_saved_thread(ctx, resource, [thread_id, case_thread])
    recipients = _recipients(ctx, resource, parent=parent, case_parties=case_parties, sender=sender)
    exchange.check(policy, exchange.Exchange(
        category=category, caller=parties.caller_kind(ctx), sender_reference=sender.reference,
        sender=parties.acting_endpoint(ctx, sender),
        recipients=tuple(exchange.Recipient(r.reference, parties.endpoint(r), f"Communication.recipient[{i}]")
                         for i, r in enumerate(recipients)),
        patient="subject" in resource, save_to_journal=_flag(resource, "save-to-journal"),
        dialogue_held=_flag(resource, "dialogue-held"),
        reply_to_shared=parent is not None and (parent.get("sender") or {}).get("reference", "").startswith("HealthcareService/"),
    ))
    requester = f"Practitioner/{sent_by}" if sent_by else (
        sender.reference if sender.is_personal else f"Organization/{sender.organization_id}")
    return Route(sender, recipients, requester, row["item_kind"], thread_id or case_thread, case_id)


def send(ctx, *, resource: dict, resource_id: str | None = None, policy: FlowPolicy) -> tuple[Stored, bool]:
    """Route and store a normalised Communication; (original, False) for a retry."""
    digest = content_hash(resource)
    original = find_original(ctx, resource)
    if original is not None:
        return original, False
    route = plan(ctx, resource, policy)
    resource.setdefault("sent", store.instant(ctx.clock()))
    definition = ctx.registry.resource("Communication")
    stored = service.write(ctx, definition=definition, resource=resource, resource_id=resource_id or service.new_id(), previous=None)
    sender_ref, system, value = message_key(resource)
    flagged = _flag(resource, "save-to-journal")
    connection = ctx.session.connection()
    insert_later(connection, Message.__table__, [dict(
        communication_id=stored.id, sender=sender_ref, system=system, value=value, content_hash=digest,
        thread_id=route.thread_id or stored.id, save_to_journal=flagged,
    )])
    if flagged:
        insert_later(connection, JournalForward.__table__, [dict(communication_id=stored.id, queued_at=ctx.clock(), state="pending")])
    carried = {recipient.reference for recipient in route.recipients
               if delivery.pushed(recipient) or any(u.carries(ctx, inbox=recipient, item_kind=route.item_kind)
                                                     for u in ctx.registry.upstreams)}
    items = create_items(ctx, items=[
        NewItem(
            owner=recipient.reference, kind=route.item_kind, focus=stored.reference, requester=route.requester,
            patient=resource.get("subject"), priority=resource.get("priority"),
            part_of=(f"Task/{route.case_id}",) if route.case_id else (),
            case_party=route.sender.reference if route.item_kind == "case" else None,
            due=due_after(route.item_kind, dates.period(resource["sent"])[0]),
            extensions=(delivery.delivery_state("pending"),) if recipient.reference in carried else (),
        )
        for recipient in route.recipients
    ])
    delivery.outbox_for(ctx, message=resource, sender=route.sender.reference, recipients=route.recipients, items=items,
                        save_to_journal=flagged)
    for upstream in ctx.registry.upstreams:
        upstream.queue(ctx, message=resource, route=route, items=items)
    ctx.registry.emit(ctx, "message-routed", category=route.item_kind, recipients=len(route.recipients))
    return stored, True
