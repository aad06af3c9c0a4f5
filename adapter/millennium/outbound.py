"""Outbound: a message to inboxes that live in Millennium becomes one Millennium Communication.

`MillenniumUpstream.queue` runs in the message's transaction and writes one outbox row carrying
the mapped Communication and all the message's Millennium recipients; the delivery worker then
calls `Connector.deliver`. Millennium has no conditional create and no identifier search, so a
create whose answer was lost (timeout, dropped connection, 5xx) could have been stored: before
any later attempt the connector looks for its marker among the first recipient's Communications
received since the row was queued, and sends only if it is not there.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from adapter.delivery.outbox import OUTBOX, Delivery, enqueue
from adapter.delivery.outbound import client_for
from adapter.delivery.retry import DELIVERED, PERMANENT, TRANSIENT, Attempted
from adapter.directory import shapes
from adapter.directory.inboxes import load_inboxes
from adapter.fhir import store
from adapter.identifiers import HSA_ID, INBOX_ID
from adapter.messaging.delivery import set_item_state, tell_sender
from adapter.millennium import mapping
from adapter.millennium.client import MillenniumClient, MillenniumError
from adapter.millennium.models import MillenniumLink

KIND = "millennium-communication"
DESTINATION = "millennium"
EMAIL_STATUSES = ("received", "in-progress", "completed")
CLOCK_SKEW = timedelta(minutes=10)  # the search for a lost create starts this long before the row was queued
LINK = MillenniumLink.__table__
log = logging.getLogger("adapter.millennium")


def _name(resource: dict) -> str:
    return shapes.display_name(resource) or resource.get("id", "?")


def _identifier(resource: dict, system: str) -> str | None:
    return next((i["value"] for i in resource.get("identifier", []) if i.get("system") == system and i.get("value")), None)


class MillenniumUpstream:
    """Decides which recipients Millennium carries and queues their one Communication (an `upstream`)."""

    def __init__(self, settings):
        self.settings = settings

    def carries(self, ctx, *, inbox, item_kind: str) -> bool:
        """The inbox lives in Millennium and this kind of message goes there (mappings/millennium_items.csv)."""
        return inbox.in_millennium and mapping.millennium_category(item_kind) is not None

    def queue(self, ctx, *, message: dict, route, items: list) -> None:
        """Write the outbox row (in the caller's transaction) for the message's Millennium recipients."""
        carried = [(inbox, item) for inbox, item in zip(route.recipients, items, strict=True)
                   if self.carries(ctx, inbox=inbox, item_kind=route.item_kind)]
        if not carried:
            return
        payload = {"items": [item.id for _, item in carried], "recipients": [inbox.reference for inbox, _ in carried],
                   "subject": message.get("subject")}
        try:
            payload["communication"] = self._communication(ctx, message=message, route=route,
                                                           recipients=[inbox.millennium for inbox, _ in carried])
            payload["patient"] = (message.get("subject") or {}).get("identifier")
        except mapping.Undeliverable as exc:
            payload["undeliverable"] = str(exc)
        enqueue(ctx.session, deliveries=[Delivery(KIND, DESTINATION, payload, f"Communication/{message['id']}",
                                                  route.sender.reference, None, None)], now=ctx.clock())

    def _communication(self, ctx, *, message: dict, route, recipients: list[str]) -> dict:
        sender = route.sender
        user_id = route.requester.split("/", 1)[1] if (route.requester or "").startswith("Practitioner/") else None
        wanted = {("HealthcareService" if not sender.is_personal else "Practitioner"): [sender.id]}
        if user_id and user_id != sender.id:
            wanted.setdefault("Practitioner", []).append(user_id)
        loaded = {rtype: store.load_many(ctx.session, resource_type=rtype, ids=ids) for rtype, ids in wanted.items()}
        sender_resource = loaded["HealthcareService" if not sender.is_personal else "Practitioner"][sender.id].as_dict()
        user_resource = loaded.get("Practitioner", {}).get(user_id) if user_id else None
        user = user_resource.as_dict() if user_resource else (sender_resource if sender.is_personal else None)
        party = mapping.Party(
            inbox_name=_name(sender_resource) if not sender.is_personal else f"{_name(sender_resource)} (personlig inkorg)",
            inbox_identifier=_identifier(sender_resource, INBOX_ID) if not sender.is_personal else None,
            user_name=_name(user) if user else None, user_hsa_id=_identifier(user, HSA_ID) if user else None)
        user_inbox = load_inboxes(ctx, [f"Practitioner/{user_id}"]).get(f"Practitioner/{user_id}") if user_id else None
        as_practitioner = next((i.millennium.split("/", 1)[1] for i in (user_inbox, sender if sender.is_personal else None)
                                if i is not None and i.millennium), self.settings.integration_practitioner)
        reply_to = sender.millennium.split("/", 1)[1] if (not sender.is_personal and sender.millennium) else None
        case = f"Task/{route.case_id}" if route.case_id else ("nytt ärende" if route.item_kind == "case" else None)
        return mapping.to_millennium(message=message, item_kind=route.item_kind, sender=party,
                                     sender_practitioner=as_practitioner, reply_to_group=reply_to, recipients=recipients,
                                     case=case, save_to_journal=any(e.get("valueBoolean") is True and e.get("url", "").endswith("/save-to-journal")
                                                                    for e in message.get("extension", [])))


class Connector:
    """The worker's side: one Millennium client per process (its token and patient cache shared by threads)."""

    def __init__(self, config):
        self.config = config
        self.settings = config.millennium
        self._client: MillenniumClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> MillenniumClient:
        """Built on first use (no work at start-up), under the outbound client's rules."""
        with self._lock:
            if self._client is None:
                self._client = MillenniumClient(self.settings, client_for(self.config))
            return self._client

    def use(self, client: MillenniumClient) -> None:
        """Use this client (tests give one with their own clock or HTTP client)."""
        self._client = client

    def deliver(self, entry, *, destination=None, client=None, now: datetime) -> Attempted:
        """Deliver one row: the Communication, created once (a deliverer for `KIND`)."""
        payload = entry.payload
        if payload.get("undeliverable"):
            return Attempted(PERMANENT, payload["undeliverable"])
        communication = dict(payload["communication"])
        try:
            identifier = payload.get("patient")
            if identifier:
                patient = self.client.find_patient(system=self.settings.patient_system, value=identifier.get("value", ""))
                if patient is None:
                    return Attempted(PERMANENT, "the patient is not known in Millennium (no Patient for the personnummer)")
                communication["subject"] = {"reference": f"Patient/{patient}"}
            if entry.attempt > 1:
                found = self.find_sent(communication, marker_id=entry.message.split("/", 1)[1], since=entry.queued_at - CLOCK_SKEW)
                if found:
                    return Attempted(DELIVERED, "already in Millennium: an earlier attempt's answer was lost", 201, receipt=found)
            created = self.client.create_communication(communication, request_id=entry.id)
        except MillenniumError as exc:
            return Attempted(TRANSIENT if exc.transient else PERMANENT, exc.reason, exc.status, exc.retry_after)
        return Attempted(DELIVERED, "HTTP 201", 201, receipt=created.id)

    def find_sent(self, communication: dict, *, marker_id: str, since: datetime) -> str | None:
        """The id of a Communication carrying our marker among the first recipient's since `since`, or None."""
        recipient = communication["recipient"][0]["reference"]
        kind, _, _ = recipient.partition("/")
        category = communication["category"][0]["coding"][0]["code"]
        for status in EMAIL_STATUSES:
            found = self.client.search_communications([
                ("category", category), (f"recipient:{kind}", recipient), ("received", f"ge{instant(since)}"),
                ("-email-status", f"{mapping.TASK_STATUS}|{status}")])
            for candidate in found:
                if mapping.marked(candidate) == marker_id:
                    return candidate.get("id")
        return None


def instant(value: datetime) -> str:
    """A search instant as Millennium takes it: UTC, seconds, with the time component."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _items(entry) -> list[str]:
    return list(entry.payload.get("items", []))


def on_delivered(ctx, *, entry, attempted=None, **_) -> None:
    """The Millennium recipients' items show the delivery; the Millennium id is remembered (for replies)."""
    if entry.kind != KIND:
        return
    for item_id in _items(entry):
        set_item_state(ctx, item_id, "delivered")
    receipt = attempted.receipt if attempted is not None else None
    if receipt and not entry.payload.get("notice") and ctx.session.execute(select(LINK.c.millennium_id).where(LINK.c.millennium_id == receipt)).first() is None:
        ctx.session.execute(insert(LINK).values(millennium_id=receipt, direction="out",
                                                communication_id=entry.message.split("/", 1)[1], outcome="sent",
                                                at=ctx.clock()))


def on_dead(ctx, *, entry, reason: str) -> None:
    """The items show the failure, and the sender is told which recipients did not get it and why."""
    if entry.kind != KIND:
        return
    for item_id in _items(entry):
        set_item_state(ctx, item_id, "failed")
    if entry.payload.get("recipients"):
        tell_sender(ctx, entry=entry, recipients=list(entry.payload["recipients"]), reason=reason)


def on_requeued(ctx, *, entry_ids: list[str], item_ids: list[str]) -> None:
    """Dead letters put back: their Millennium recipients' items are pending again."""
    for (raw,) in ctx.session.execute(select(OUTBOX.c.payload).where(OUTBOX.c.id.in_(entry_ids), OUTBOX.c.kind == KIND)):
        for item_id in json.loads(raw).get("items", []):
            set_item_state(ctx, item_id, "pending")
