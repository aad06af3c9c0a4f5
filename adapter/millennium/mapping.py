"""Our messages as Millennium Communications and back: pure functions over the tables in `mappings/`.

Millennium is stricter than FHIR (reference/millennium-communication.md): sender a Practitioner,
priority routine or urgent, one base64 text attachment, recipients Practitioners or Groups,
category from communication-category. What it cannot hold in a field is written in the text:
the sending shared inbox and the user who sent (MC-R38: the recipient must see both), the case,
the save-to-journal flag, and our marker, by which the connector finds a message whose answer was lost.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser

from adapter.identifiers import MILLENNIUM_COMMUNICATION
from adapter.mappings import code_system_url, extension_url, table

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
TASK_STATUS = "http://hl7.org/fhir/task-status"
REPLY_TO = "https://fhir-ehr.cerner.com/r4/StructureDefinition/reply-to"
EMAIL_STATUS = "https://fhir-ehr.cerner.com/r4/StructureDefinition/email-status"
TEXT_PLAIN = "text/plain;charset=utf-8"
MARKER_PREFIX = "mc:"
_MARKER = re.compile(r"\[mc:([A-Za-z0-9\-]{1,64})\]")


@cache
def _items() -> dict[str, dict]:
    return {row["item_kind"]: row for row in table("millennium_items")}


@cache
def _priorities() -> dict[str, str]:
    return {row["priority"]: row["millennium_priority"] for row in table("millennium_priorities")}


def millennium_category(item_kind: str) -> str | None:
    """The Millennium category a message of this item kind is sent with; None: it does not go upstream."""
    row = _items().get(item_kind)
    return row["millennium_category"] if row and row["upstream"] == "true" else None


@cache
def _inbound() -> dict[tuple[str, str], dict]:
    return {(row["millennium_category"], row["answers"]): row for row in table("millennium_inbound")}


def inbound_categories() -> tuple[str, ...]:
    """The Millennium categories the poller searches in mirrored Groups (mappings/millennium_inbound.csv)."""
    return tuple(sorted({category for category, _ in _inbound()}))


def inbound_category(millennium_category: str, *, answers: str) -> str | None:
    """Our message-category for a Millennium message answering `nothing`, a `case` or a `message`."""
    row = _inbound().get((millennium_category, answers))
    return row["category"] if row else None


def millennium_priority(priority: str | None) -> str:
    """routine/urgent (asap and stat become urgent, MC-R14)."""
    return _priorities().get(priority or "routine", "routine")


@dataclass(frozen=True)
class Party:
    """An end of a message as the text names it (MC-R38): the inbox, and the user who sent from it."""

    inbox_name: str
    inbox_identifier: str | None = None  # the shared inbox's identifier, or the user's HSA-id
    user_name: str | None = None
    user_hsa_id: str | None = None


class Undeliverable(ValueError):
    """The message has content Millennium cannot hold (a permanent failure the sender is told about)."""


def message_text(message: dict) -> str:
    """The message's own words: its strings and text attachments, in order."""
    parts = []
    for position, payload in enumerate(message.get("payload", [])):
        if "contentString" in payload:
            parts.append(payload["contentString"])
            continue
        attachment = payload.get("contentAttachment") or {}
        content_type = (attachment.get("contentType") or "").split(";")[0].strip().lower()
        if content_type != "text/plain" or "data" not in attachment:
            raise Undeliverable(f"Millennium takes one text attachment; payload[{position}] is "
                                f"{content_type or 'a reference'}, which cannot be delivered there")
        try:
            parts.append(base64.b64decode(attachment["data"]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise Undeliverable(f"payload[{position}] is not UTF-8 text") from None
    return "\n\n".join(parts)


def marker(communication_id: str) -> str:
    """Our mark on a Millennium Communication: the message's id here."""
    return f"[{MARKER_PREFIX}{communication_id}]"


def marked(communication: dict) -> str | None:
    """Our message id in a Millennium Communication's topic, if it is one we sent."""
    found = _MARKER.search((communication.get("topic") or {}).get("text") or "")
    return found.group(1) if found else None


def _header(sender: Party, case: str | None, save_to_journal: bool) -> list[str]:
    lines = [f"Från: {sender.inbox_name}" + (f" ({sender.inbox_identifier})" if sender.inbox_identifier else "")]
    if sender.user_name or sender.user_hsa_id:
        lines.append("Skickat av: " + " ".join(p for p in (sender.user_name, f"({sender.user_hsa_id})" if sender.user_hsa_id else None) if p))
    if case:
        lines.append(f"Ärende: {case}")
    if save_to_journal:
        lines.append(SAVE_TO_JOURNAL_LINE)
    return lines


def to_millennium(*, message: dict, item_kind: str, sender: Party, sender_practitioner: str, reply_to_group: str | None,
                  recipients: list[str], case: str | None, save_to_journal: bool) -> dict:
    """The Millennium Communication for one of our messages (its subject is added at delivery).

    `recipients` are `Practitioner/<id>` or `Group/<id>` in Millennium; `sender_practitioner` the
    Millennium Practitioner it is sent as.
    """
    category = millennium_category(item_kind)
    if category is None:
        raise Undeliverable(f"a {item_kind} item is not sent to Millennium as a Communication")
    body = "\n".join(_header(sender, case, save_to_journal) + ["", message_text(message), "", "--",
                                                                 f"Meddelande-id: {marker(message['id'])}"])
    subject = ((message.get("topic") or {}).get("text") or "").strip() or "Meddelande"
    communication = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}],
        "priority": millennium_priority(message.get("priority")),
        "topic": {"text": f"{subject[:200]} {marker(message['id'])}"},
        "recipient": [{"reference": r} for r in recipients],
        "sender": {"reference": f"Practitioner/{sender_practitioner}"},
        "payload": [{"contentAttachment": {"contentType": TEXT_PLAIN,
                                           "data": base64.b64encode(body.encode("utf-8")).decode("ascii")}}],
    }
    if reply_to_group:
        communication["extension"] = [{"url": REPLY_TO, "valueReference": {"reference": f"Group/{reply_to_group}"}}]
    return communication


def failure_notice(*, to_practitioner: str, sender_practitioner: str, about: dict, rule: str | None, reason_sv: str,
                   notice_id: str) -> dict:
    """A delivery-failure Communication to a Millennium user whose message was refused, naming the rule (Swedish)."""
    topic = about.get("topic") if isinstance(about.get("topic"), dict) else {}
    subject = topic.get("text").strip() if isinstance(topic.get("text"), str) else ""
    body = "\n".join([
        "Ditt meddelande kunde inte levereras.",
        *([f"Regel: {rule} (regional rutin för Meddelandecenter)."] if rule else []),
        reason_sv,
        "",
        f"Gäller meddelande: {about.get('id', '?')}" + (f" ({subject[:200]})" if subject else ""),
        "", "--", f"Meddelande-id: {marker(notice_id)}",
    ])
    return {
        "resourceType": "Communication", "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": millennium_category("delivery-failure")}]}],
        "priority": "urgent",
        "topic": {"text": f"Meddelandet kunde inte levereras{f' ({rule})' if rule else ''} {marker(notice_id)}"},
        "recipient": [{"reference": f"Practitioner/{to_practitioner}"}],
        "sender": {"reference": f"Practitioner/{sender_practitioner}"},
        "payload": [{"contentAttachment": {"contentType": TEXT_PLAIN,
                                           "data": base64.b64encode(body.encode("utf-8")).decode("ascii")}}],
    }


def email_status_patch(status: str) -> list[dict]:
    """Millennium's one allowed patch: replace `/extension` with the email-status extension."""
    return [{"op": "replace", "path": "/extension", "value": [{
        "url": EMAIL_STATUS, "valueCodeableConcept": {"coding": [{"system": TASK_STATUS, "code": status}]}}]}]


def reference_id(reference: dict | None, resource_type: str) -> str | None:
    """`<id>` of a `{"reference": "<Type>/<id>"}` (relative or absolute) of that type."""
    value = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(value, str):
        return None
    head, _, tail = value.rstrip("/").rpartition(f"{resource_type}/")
    if not tail or "/" in tail or (head and not head.endswith("/")):
        return None
    return tail


_SHAPE = {"sender": dict, "subject": dict, "topic": dict, "meta": dict, "recipient": list, "category": list,
          "inResponseTo": list, "extension": list, "payload": list, "priority": str, "sent": str, "received": str}


def malformed(found: dict) -> str | None:
    """What makes a Communication from Millennium unreadable (a wrong JSON type), or None: checked
    before anything reads it, so that no message can stop the poll of its Group."""
    if not isinstance(found.get("id"), str) or not 0 < len(found["id"]) <= 64:
        return "id"
    for name, kind in _SHAPE.items():
        if name in found and not isinstance(found[name], kind):
            return name
        if kind is list and any(not isinstance(entry, dict) for entry in found.get(name, [])):
            return name
    for cc in found.get("category", []):
        if not isinstance(cc.get("coding", []), list) or any(not isinstance(c, dict) for c in cc.get("coding", [])):
            return "category"
    if not isinstance(found.get("topic", {}).get("text", ""), str):
        return "topic"
    for ext in found.get("extension", []):
        if ext.get("url") == EMAIL_STATUS and not isinstance((ext.get("valueCodeableConcept") or {}).get("coding", []), list):
            return "extension"
    return None


def email_status(found: dict) -> str | None:
    """A found Communication's email-status code (Millennium returns it as an extension)."""
    for ext in found.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EMAIL_STATUS:
            codings = (ext.get("valueCodeableConcept") or {}).get("coding") or []
            code = codings[0].get("code") if codings and isinstance(codings[0], dict) else None
            return code if isinstance(code, str) else None
    return None


def reply_to(communication: dict) -> str | None:
    """The Group a Millennium message's replies go to (its reply-to extension)."""
    for ext in communication.get("extension", []):
        if ext.get("url") == REPLY_TO:
            return reference_id(ext.get("valueReference"), "Group")
    return None


# -- inbound: a Millennium user's message as ours ------------------------------------------------

_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def read_text(content_type: str, data: bytes) -> str:
    """A Millennium payload as text: text/plain as it is, XHTML's text (Millennium's two payload types)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    charset = "us-ascii" if "us-ascii" in (content_type or "").lower() else "utf-8"
    try:
        decoded = data.decode(charset)
    except UnicodeDecodeError:
        raise Undeliverable(f"the payload is not {charset} text") from None
    if kind == "text/plain":
        return decoded
    if kind == "application/xhtml+xml":
        parser = _Text()
        parser.feed(decoded)
        parser.close()
        lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    raise Undeliverable(f"the payload's type {kind or '(none)'} is neither text/plain nor application/xhtml+xml")


def subject_text(found: dict) -> str | None:
    """A Millennium message's topic without our marker (a reply keeps the subject it answers)."""
    text = _MARKER.sub("", (found.get("topic") or {}).get("text") or "").strip()
    return text or None


SAVE_TO_JOURNAL_LINE = "Spara till journal: ja"
# What a Millennium sender can do about a refusal, where the Communication API leaves them a way (the text).
HINTS = {"MC-R8": f"Skriv raden \"{SAVE_TO_JOURNAL_LINE}\" i meddelandet om det ska sparas till patientens journal."}


def asks_to_save(text: str) -> bool:
    """The sender wrote our save-to-journal line (Millennium's API has no field for it; our own messages carry it)."""
    return any(line.strip().lower() == SAVE_TO_JOURNAL_LINE.lower() for line in text.splitlines())


def from_millennium(*, found: dict, text: str, category: str, sender: str, sent_by: str | None, recipients: list[str],
                    answers: str | None, case: str | None, patient: dict | None) -> dict:
    """Our Communication for a Millennium user's message (its Millennium id is the duplicate key)."""
    resource = {
        "resourceType": "Communication",
        "status": "completed",
        "identifier": [{"system": MILLENNIUM_COMMUNICATION, "value": found["id"]}],
        "category": [{"coding": [{"system": code_system_url("message-category"), "code": category}]}],
        "priority": "urgent" if found.get("priority") == "urgent" else "routine",
        "sender": {"reference": sender},
        "recipient": [{"reference": r} for r in recipients],
        "payload": [{"contentString": text or "(tomt meddelande)"}],
    }
    topic = subject_text(found)
    if topic:
        resource["topic"] = {"text": topic}
    if found.get("sent"):
        resource["sent"] = found["sent"]
    if answers:
        resource["inResponseTo"] = [{"reference": f"Communication/{answers}"}]
    if case:
        resource["partOf"] = [{"reference": f"Task/{case}"}]
    if patient:
        resource["subject"] = {"identifier": dict(patient)}
    extensions = []
    if sent_by:
        extensions.append({"url": extension_url("sent-by"), "valueReference": {"reference": f"Practitioner/{sent_by}"}})
    if asks_to_save(text):
        extensions.append({"url": extension_url("save-to-journal"), "valueBoolean": True})
    if extensions:
        resource["extension"] = extensions
    return resource
