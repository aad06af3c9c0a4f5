"""`$process-message`: a message Bundle's focus routed exactly as a RESTful create, answered reliably.

- The MessageHeader's sender must be the caller's own organisation (403 otherwise: no one
  answers, or fills the cache, in another organisation's name).
- `(sender, MessageHeader.id)` is the duplicate key (MedCom's rule): a repeat gets the stored
  response byte for byte and creates nothing; the same id with other content is 409. The key
  row is inserted before processing, so of two concurrent deliveries the second waits for the
  first and answers with its response.
- The focus goes through the same service as `POST /fhir/<type>` (validation, flow policy,
  routing, audit). A refusal is a `fatal-error` response message whose `details` is the
  OperationOutcome (with the rule), in a savepoint, so nothing of the focus is stored.
- HTTP follows the operation's definition: 200 with the response message once the message is
  processed (`ok` or `fatal-error`); 202 in asynchronous mode, the response message then
  delivered to `response-url` through the outbox; 4xx with an OperationOutcome when there is
  no message to answer (not a message Bundle, no MessageHeader first, wrong sender, reused id).
- Each processed message leaves a Provenance (activity the event, agent the sending
  organisation, target the stored focus).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapter.delivery.attempt import post_entry
from adapter.delivery.outbound import AddressRefused, check_url
from adapter.delivery.outbox import Delivery, enqueue
from adapter.directory import shapes
from adapter.errors import AdapterError, Conflict, Forbidden, Issue, MalformedRequest, UnprocessableResource
from adapter.fhir import service, store
from adapter.fhir.outcome import operation_outcome
from adapter.identifiers import HSA_ID
from adapter.mappings import code_system_url, table
from adapter.partner.models import ProcessedMessage

EVENTS = code_system_url("message-event")
RESPONSE_CODE = "http://hl7.org/fhir/response-code"
MESSAGE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
KIND = "message-response"


@dataclass(frozen=True)
class Answer:
    """What the operation answers: the HTTP status and the body text (stored for repeats)."""

    status: int
    body: str


def _entries(bundle: dict) -> list[dict]:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MalformedRequest.simple("a message Bundle has entries, the MessageHeader first", expression="Bundle.entry")
    return entries


def read_header(ctx, bundle: dict) -> dict:
    """The MessageHeader of a message Bundle (400 when there is no message to answer)."""
    ctx.validator.check_resource_type(bundle, "Bundle")
    if bundle.get("type") != "message":
        raise MalformedRequest.simple("$process-message takes a Bundle of type message", expression="Bundle.type")
    first = _entries(bundle)[0]
    header = first.get("resource") if isinstance(first, dict) else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        raise MalformedRequest.simple("the first entry of a message is its MessageHeader", expression="Bundle.entry[0]")
    if not isinstance(header.get("id"), str) or not MESSAGE_ID.match(header["id"]):
        raise MalformedRequest.simple("MessageHeader.id (the message's duplicate key) is required: 1-64 of A-Z a-z 0-9 - .",
                                      expression="Bundle.entry[0].resource.id")
    ctx.validator.check_structure("MessageHeader", header)
    return header


def sender_of(ctx, header: dict) -> str:
    """The sending organisation's HSA-id; it must be the caller's own (403)."""
    sender = header.get("sender")
    hsa_id = None
    if isinstance(sender, dict):
        organization_id = shapes.reference_id(sender, "Organization")
        identifier = sender.get("identifier") if isinstance(sender.get("identifier"), dict) else {}
        if organization_id:
            stored = store.load_current(ctx.session, resource_type="Organization", resource_id=organization_id)
            hsa_id = shapes.hsa_id(stored.as_dict()) if stored else None
        elif identifier.get("system") == HSA_ID:
            hsa_id = identifier.get("value")
    if not hsa_id:
        raise Forbidden.simple("MessageHeader.sender names no known organisation (a reference, or its HSA-id)",
                               expression="MessageHeader.sender")
    own = ctx.caller.organization_hsa_id if ctx.caller.kind == "client" else ctx.caller.unit_hsa_id
    if ctx.caller.kind in ("client", "user") and own != hsa_id:
        raise Forbidden.simple("MessageHeader.sender is not the caller's own organisation", expression="MessageHeader.sender")
    return hsa_id


def content_hash(bundle: dict) -> str:
    """The message's content (its entries): a repeat has the same, a reused id other content."""
    return hashlib.sha256(json.dumps(bundle.get("entry"), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _stored_answer(ctx, sender: str, message_id: str, digest: str) -> Answer | None:
    row = ctx.session.execute(select(ProcessedMessage).where(
        ProcessedMessage.sender == sender, ProcessedMessage.message_id == message_id)).scalar_one_or_none()
    if row is None:
        return None
    if row.content_hash != digest:
        raise Conflict.simple(f"message {message_id} from {sender} was already processed with other content",
                              expression="MessageHeader.id")
    return Answer(row.status, row.response)


def _claim_key(ctx, sender: str, message_id: str, digest: str) -> Answer | None:
    """Insert the key row first; None when this request processes the message, else the earlier answer."""
    found = _stored_answer(ctx, sender, message_id, digest)
    if found is not None:
        return found
    try:
        with ctx.session.begin_nested():
            ctx.session.add(ProcessedMessage(sender=sender, message_id=message_id, content_hash=digest, status=0,
                                             response="", received_at=ctx.clock()))
            ctx.session.flush()
    except IntegrityError:  # a concurrent delivery of the same message committed first
        return _stored_answer(ctx, sender, message_id, digest)
    return None


def _event(header: dict) -> dict | None:
    coding = header.get("eventCoding") or {}
    rows = {r["event"]: r for r in table("message_events")}
    return rows.get(coding.get("code")) if coding.get("system") == EVENTS else None


def _focus(bundle: dict, header: dict, event: dict) -> dict:
    foci = header.get("focus") or []
    if len(foci) != 1:
        raise UnprocessableResource(Issue("invalid", f"the {event['event']} event has exactly one focus ({len(foci)} given)",
                                          "MessageHeader.focus"))
    reference = foci[0].get("reference") if isinstance(foci[0], dict) else None
    for entry in bundle["entry"][1:]:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        names = {entry.get("fullUrl"), f"{resource.get('resourceType')}/{resource.get('id')}"}
        if reference and reference in names:
            if resource.get("resourceType") != event["focus"]:
                raise UnprocessableResource(Issue("invalid", f"the {event['event']} event's focus is a {event['focus']}",
                                                  "MessageHeader.focus[0]"))
            return resource
    raise UnprocessableResource(Issue("invalid", "MessageHeader.focus names no entry of the Bundle", "MessageHeader.focus[0]"))


def _apply(ctx, event: dict, focus: dict):
    """The focus, through the same service as the RESTful interaction; (stored, interaction)."""
    focus = {k: v for k, v in focus.items() if k != "meta" or event["handling"] == "update"}
    if event["categories"]:
        system = code_system_url("message-category")
        categories = {c.get("code") for cc in focus.get("category", []) for c in cc.get("coding", []) if c.get("system") == system}
        if not categories <= set(event["categories"].split("|")):
            raise UnprocessableResource(Issue("invalid", f"the {event['event']} event carries a Communication of category "
                                              f"{event['categories'].replace('|', ', ')}", "Communication.category"))
    if event["handling"] == "update":
        version = (focus.get("meta") or {}).get("versionId")
        if not focus.get("id") or not str(version or "").isdigit():
            raise UnprocessableResource(Issue("required", "a task-update carries the Task's id and the meta.versionId it read",
                                              "Task.meta.versionId"))
        stored = service.update(ctx, resource_type="Task", resource_id=focus["id"], resource=focus, if_match=int(version))
        return stored, "update"
    focus.pop("id", None)
    stored, _created = service.create(ctx, resource=focus, expected_type=event["focus"])
    return stored, "create"


def _provenance(ctx, *, stored, event: dict, sender: str, header: dict) -> None:
    service.write(ctx.as_adapter(), definition=ctx.registry.resource("Provenance"), resource_id=service.new_id(), previous=None,
                  resource={
                      "resourceType": "Provenance", "recorded": store.instant(ctx.clock()),
                      "target": [{"reference": f"{stored.reference}/_history/{stored.version}"}],
                      "activity": {"coding": [{"system": EVENTS, "code": event["event"]}]},
                      "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                                      "code": "author"}]},
                                 "who": {"identifier": {"system": HSA_ID, "value": sender}}}],
                      "entity": [{"role": "source", "what": {"identifier": {"system": f"{EVENTS}#message-id", "value": header["id"]}}}],
                  })


def response_message(ctx, header: dict, *, code: str, focus: str | None = None, issues: list[Issue] = ()) -> dict:
    """The response message Bundle (FHIR messaging): MessageHeader.response, with an OperationOutcome as details."""
    response: dict = {"identifier": header["id"], "code": code}
    entries = []
    if issues:
        outcome_id = str(uuid.uuid4())
        response["details"] = {"reference": f"urn:uuid:{outcome_id}"}
        entries.append({"fullUrl": f"urn:uuid:{outcome_id}", "resource": {**operation_outcome(list(issues)), "id": outcome_id}})
    answer = {
        "resourceType": "MessageHeader", "id": str(uuid.uuid4()), "eventCoding": header.get("eventCoding"),
        "source": {"name": "mc-adapter", "endpoint": f"{ctx.config.fhir_base_url}/$process-message"},
        "response": response,
    }
    destination = (header.get("source") or {}).get("endpoint")
    if isinstance(destination, str):
        answer["destination"] = [{"endpoint": destination}]
    if focus:
        answer["focus"] = [{"reference": focus}]
    header_id = answer["id"]
    return {
        "resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "message", "timestamp": store.instant(ctx.clock()),
        "entry": [{"fullUrl": f"urn:uuid:{header_id}", "resource": answer}] + entries,
    }


def process(ctx, *, bundle: dict, asynchronous: bool = False, response_url: str | None = None, audit=None,
            authorize=None) -> Answer:
    """Process a message Bundle in the caller's transaction; the answer is stored under its duplicate key."""
    header = read_header(ctx, bundle)
    sender = sender_of(ctx, header)
    refused_url = None
    if asynchronous:
        response_url = response_url or (header.get("source") or {}).get("endpoint")
        refused_url = _refused_response_url(ctx, response_url)
        asynchronous = refused_url is None  # an answer that cannot be sent is given now, as a fatal-error
    digest = content_hash(bundle)
    earlier = _claim_key(ctx, sender, header["id"], digest)
    if earlier is not None:
        return earlier
    if refused_url is not None:
        response = response_message(ctx, header, code="fatal-error", issues=[refused_url])
    else:
        response = _respond(ctx, bundle, header, sender, audit=audit, authorize=authorize)
    body = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    if asynchronous:
        enqueue(ctx.session, deliveries=[Delivery(KIND, response_url, response)], now=ctx.clock())
        answer = Answer(202, "")
    else:
        answer = Answer(200, body)
    row = ctx.session.get(ProcessedMessage, (sender, header["id"]))
    row.status, row.response = answer.status, answer.body
    return answer


def _refused_response_url(ctx, url: str | None) -> Issue | None:
    """Why the asynchronous response cannot go to `url` (the outbound client's rules), or None."""
    if not url:
        return Issue("required", "asynchronous mode needs response-url (or MessageHeader.source.endpoint)", "response-url")
    if len(url) > 200:
        return Issue("too-long", "response-url has at most 200 characters", "response-url")
    try:
        check_url(url, allowed_hosts=frozenset(ctx.config.outbound_allow_hosts))
    except AddressRefused as exc:
        return Issue("value", f"response-url: {exc}", "response-url")
    return None


def _respond(ctx, bundle, header, sender, *, audit, authorize) -> dict:
    event = _event(header)
    if event is None:
        return response_message(ctx, header, code="fatal-error", issues=[Issue(
            "code-invalid", f"eventCoding is not an event of {EVENTS}", "MessageHeader.eventCoding")])
    if authorize is not None:  # the token's scopes, as for the RESTful interaction (403, nothing stored)
        authorize(event["focus"], event["handling"])
    try:
        with ctx.session.begin_nested():
            focus = _focus(bundle, header, event)
            stored, interaction = _apply(ctx, event, focus)
            _provenance(ctx, stored=stored, event=event, sender=sender, header=header)
            if audit is not None:
                audit(ctx, event["focus"], interaction, [stored.as_dict()])
    except AdapterError as error:
        return response_message(ctx, header, code="fatal-error", issues=error.issues)
    return response_message(ctx, header, code="ok", focus=stored.reference)


def deliver_response(entry, *, destination, client, now):
    """POST the response message to the sender's response-url (asynchronous mode)."""
    return post_entry(client, destination.url, entry=entry, destination=destination, now=now)
