"""Messages that leave the adapter, through the outbox (adapter/delivery).

- A recipient inbox whose own system is reachable (an active FHIR `Endpoint` named by the inbox
  or its unit) is pushed each message: `POST <address>/Communication`. The recipient's item
  shows the delivery (extension `delivery-state`: pending, delivered, failed).
- A message flagged save-to-journal is forwarded to the configured `journal` destination
  (MC-R6, MC-R8), when one is configured.
- A delivery that fails for good puts a `delivery-failure` item in the sender's inbox naming
  the message and the recipient (MC-R22: notifications).

All rows are written in the message's transaction (`outbox_for`), so a stored message always
has its deliveries and a refused one none.
"""

from __future__ import annotations

from urllib.parse import quote

from adapter.delivery.attempt import post_entry
from adapter.delivery.outbox import Delivery, enqueue
from adapter.fhir import service, store
from adapter.inbox.items import NewItem, create_items
from adapter.mappings import code_system_url, extension_url

KIND = "fhir-communication"
JOURNAL = "journal"
DELIVERY_STATE = extension_url("delivery-state")


def delivery_state(state: str) -> dict:
    """The item extension that shows its delivery (adapter-owned: a recipient's update keeps it)."""
    return {"url": DELIVERY_STATE, "valueCode": state}


def pushed(inbox) -> bool:
    """Whether the inbox's own system is pushed its messages."""
    return inbox.endpoint is not None


def outbox_for(ctx, *, message: dict, sender: str, recipients: list, items: list, save_to_journal: bool) -> list[str]:
    """Queue the message's deliveries in the caller's transaction; return the outbox ids."""
    payload = {k: v for k, v in message.items() if k != "meta"}
    reference = f"Communication/{message['id']}"
    deliveries = [
        Delivery(KIND, inbox.endpoint, payload, reference, sender, inbox.reference, item.id)
        for inbox, item in zip(recipients, items, strict=True) if pushed(inbox)
    ]
    if save_to_journal and JOURNAL in ctx.config.destinations:
        deliveries.append(Delivery(KIND, JOURNAL, payload, reference, sender, None, None))
    return enqueue(ctx.session, deliveries=deliveries, now=ctx.clock())


def deliver_communication(entry, *, destination, client, now):
    """POST the Communication; its identifier doubles as the receiver's native duplicate key (If-None-Exist)."""
    identifier = next((i for i in entry.payload.get("identifier", []) if i.get("system") and i.get("value")), None)
    headers = {} if identifier is None else {
        "If-None-Exist": f"identifier={quote(identifier['system'], safe=':/')}|{quote(identifier['value'], safe='')}"}
    return post_entry(client, f"{destination.url}/Communication", entry=entry, destination=destination, now=now, headers=headers)


def set_item_state(ctx, item_id: str | None, state: str) -> None:
    """Show the delivery on the recipient's item (a new Task version written by the adapter)."""
    if not item_id:
        return
    current = store.load_current(ctx.session, resource_type="Task", resource_id=item_id, for_update=True)
    if current is None:
        return
    task = current.as_dict()
    extensions = [e for e in task.get("extension", []) if e.get("url") != DELIVERY_STATE]
    task["extension"] = extensions + [delivery_state(state)]
    service.write(ctx.as_adapter(), definition=ctx.registry.resource("Task"), resource=task, resource_id=item_id,
                  previous=current)


def on_delivered(ctx, *, entry, **_) -> None:
    """The recipient's item shows it reached the recipient's system."""
    if entry.kind == KIND:
        set_item_state(ctx, entry.item_id, "delivered")


def on_requeued(ctx, *, entry_ids: list[str], item_ids: list[str]) -> None:
    """An operator put dead letters back: their items are pending again."""
    for item_id in item_ids:
        set_item_state(ctx, item_id, "pending")


def on_dead(ctx, *, entry, reason: str) -> None:
    """Tell the sender (a delivery-failure item naming the message and the recipient); mark the recipient's item."""
    if entry.kind != KIND:
        return
    set_item_state(ctx, entry.item_id, "failed")
    tell_sender(ctx, entry=entry, recipients=[entry.recipient], reason=reason)


def tell_sender(ctx, *, entry, recipients: list[str | None], reason: str) -> None:
    """A delivery-failure item in the sender's inbox (Notifications, MC-R22): the message, its recipients, why.

    A recipient None is the patient record (a save-to-journal forward).
    """
    if not entry.sender or not entry.message:
        return
    named = tuple(
        {"type": {"coding": [{"system": code_system_url("delivery-input"), "code": "recipient"}]},
         **({"valueReference": {"reference": r}} if r else {"valueString": "the patient record (save-to-journal)"})}
        for r in recipients)
    create_items(ctx, items=[NewItem(
        owner=entry.sender, kind="delivery-failure", focus=entry.message, patient=entry.payload.get("subject"),
        description="Meddelandet kunde inte levereras till mottagarens system.",
        inputs=named + (
            {"type": {"coding": [{"system": code_system_url("delivery-input"), "code": "reason"}]}, "valueString": reason},
        ),
    )])
