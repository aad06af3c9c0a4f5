"""Documents (MC-R18): documentation to co-sign, documents to review, referral answers.

`DocumentReference.category` names the flow with an item-kind code:
- `document-sign`: preliminary documentation (`docStatus` preliminary) by a student or trainee;
  a co-sign item for the author's supervisor;
- `document-review`: a scanned document or a note forwarded for information; a review item
  for the practitioner named in the `responsible` extension;
- `referral-answer`: an answer to the referral in `context.related` (a ServiceRequest); an
  item in the referrer's Documents, and the answer stays linked to (and found from) the referral.
"""

from __future__ import annotations

from adapter.directory import lookups, shapes
from adapter.directory.inboxes import load_inboxes
from adapter.errors import Forbidden, RuleViolation
from adapter.fhir import service, store
from adapter.fhir.store import Stored
from adapter.inbox.items import NewItem, create_items
from adapter.mappings import code_system_url

FLOWS = ("document-sign", "document-review", "referral-answer")


def _flow(document: dict) -> str:
    found = [c.get("code") for cc in document.get("category", []) for c in cc.get("coding", [])
             if c.get("system") == code_system_url("item-kind") and c.get("code") in FLOWS]
    if len(found) != 1:
        raise RuleViolation("MC-R18", f"A document names its flow: one category from item-kind ({', '.join(FLOWS)}).",
                            "Dokumentet anger sitt flöde (kategori).", "DocumentReference.category")
    return found[0]


def _open_personal(ctx, reference: str | None) -> str | None:
    inbox = load_inboxes(ctx, [reference]).get(reference) if reference else None
    return reference if inbox is not None and inbox.is_personal and inbox.active else None


def _supervisor(ctx, document: dict) -> str:
    if document.get("docStatus") != "preliminary":
        raise RuleViolation("MC-R18", "Documentation to co-sign is preliminary until signed (docStatus).",
                            "Dokumentation för kontrasignering är preliminär.", "DocumentReference.docStatus")
    for author in document.get("author", []):
        practitioner_id = shapes.reference_id(author, "Practitioner")
        for info in lookups.active_roles_of(ctx.session, practitioner_id=practitioner_id) if practitioner_id else []:
            supervisor = (shapes.extension(info.resource, "supervisor") or {}).get("valueReference", {}).get("reference")
            if _open_personal(ctx, supervisor):
                return supervisor
    raise RuleViolation("MC-R18", "Nobody can co-sign this documentation: its author has no supervisor.",
                        "Ingen handledare kan kontrasignera dokumentationen.", "DocumentReference.author")


def _reviewer(ctx, document: dict) -> str:
    named = (shapes.extension(document, "responsible") or {}).get("valueReference", {}).get("reference")
    if _open_personal(ctx, named):
        return named
    raise RuleViolation("MC-R18", "A document to review names the practitioner who reviews it (responsible).",
                        "Dokument för vidimering anger mottagare (ansvarig).", "DocumentReference.extension")


def _referrer(ctx, document: dict) -> str:
    for related in document.get("context", {}).get("related", []):
        referral_id = shapes.reference_id(related, "ServiceRequest")
        referral = store.load_current(ctx.session, resource_type="ServiceRequest", resource_id=referral_id) if referral_id else None
        requester = (referral.as_dict().get("requester") or {}).get("reference") if referral else None
        if _open_personal(ctx, requester):
            return requester
    raise RuleViolation("MC-R18", "A referral answer names its referral (context.related), whose requester receives it.",
                        "Remissvaret anger remissen (context.related), vars remittent tar emot svaret.",
                        "DocumentReference.context.related")


RECIPIENTS = {"document-sign": _supervisor, "document-review": _reviewer, "referral-answer": _referrer}


def _check_filer(ctx) -> None:
    """Users file documents; of the system clients only the region's EHR integration does, since a
    document lands in a personal inbox and clients otherwise never act there (MC-R18)."""
    if ctx.caller.kind == "client" and not ctx.caller.can("ehr"):
        raise Forbidden.simple("documents are filed by users or by the EHR (a client registered with capability ehr, MC-R18)")


def file_document(ctx, *, resource: dict, resource_id: str | None = None) -> tuple[Stored, bool]:
    """`POST /fhir/DocumentReference`: store the document and put its item in the recipient's Documents."""
    _check_filer(ctx)
    flow = _flow(resource)
    owner = RECIPIENTS[flow](ctx, resource)
    definition = ctx.registry.resource("DocumentReference")
    stored = service.write(ctx, definition=definition, resource=resource, resource_id=resource_id or service.new_id(), previous=None)
    author = next((a.get("reference") for a in resource.get("author", []) if a.get("reference", "").startswith("Practitioner/")), None)
    create_items(ctx, items=[NewItem(owner=owner, kind=flow, focus=stored.reference, requester=author,
                                     patient=resource.get("subject"))])
    return stored, True
