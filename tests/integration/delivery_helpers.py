"""Endpoints in the sandbox directory and a worker driven by hand, for the delivery tests."""

from __future__ import annotations

import json
import random

from sqlalchemy import select

from adapter.delivery.models import OutboxAttempt, OutboxEntry
from adapter.delivery.worker import Worker
from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, post, put

RECEIVER = "https://kommun-b.example.test/fhir"
DELIVERY_STATE = f"{BASE}/StructureDefinition/delivery-state"


def endpoint(address: str = RECEIVER, **extra) -> dict:
    return {
        "resourceType": "Endpoint", "status": "active", "name": "Kommunens verksamhetssystem",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
        "payloadType": [{"text": "Meddelandecenter messages"}], "payloadMimeType": ["application/fhir+json"],
        "address": address, **extra,
    }


def push_to(client, inbox_reference: str, address: str = RECEIVER) -> str:
    """Give a shared inbox an Endpoint: its system is pushed its messages from now on."""
    created = post(client, "Endpoint", endpoint(address))
    assert created.status_code == 201, created.get_json()
    service = client.get(f"/fhir/{inbox_reference}").get_json()
    service["endpoint"] = [{"reference": f"Endpoint/{created.get_json()['id']}"}]
    updated = put(client, inbox_reference, service, {**FHIR_JSON, "If-Match": f'W/"{service["meta"]["versionId"]}"'})
    assert updated.status_code == 200, updated.get_json()
    return f"Endpoint/{created.get_json()['id']}"


def worker(app, name: str = "test-worker") -> Worker:
    return Worker(app.extensions["mc"], name=name, rng=random.Random(4))


def rows(app) -> list:
    with app.extensions["mc"].sessions() as session:
        return session.execute(select(OutboxEntry).order_by(OutboxEntry.created_at)).scalars().all()


def attempts(app, entry_id: str) -> list:
    with app.extensions["mc"].sessions() as session:
        return session.execute(select(OutboxAttempt).where(OutboxAttempt.outbox_id == entry_id)
                               .order_by(OutboxAttempt.number)).scalars().all()


def state_of(task: dict) -> str | None:
    return next((e["valueCode"] for e in task.get("extension", []) if e["url"] == DELIVERY_STATE), None)


def payload(row) -> dict:
    return json.loads(row.payload)
