"""Sandbox inboxes and message builders for the messaging tests."""

from __future__ import annotations

from adapter.identifiers import BASE, HSA_ID, INBOX_ID
from tests.helpers import FHIR_JSON, search

PERSONNUMMER = {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}


class Sandbox:
    """Finds the sandbox directory's inboxes by HSA-id."""

    def __init__(self, client):
        self.client = client

    def personal(self, hsa_id: str) -> str:
        return "Practitioner/" + search(self.client, f"Practitioner?identifier={HSA_ID}|{hsa_id}")[0]["id"]

    def shared(self, unit_hsa_id: str, suffix: str = "samverkan") -> str:
        return "HealthcareService/" + search(self.client, f"HealthcareService?identifier={INBOX_ID}|{unit_hsa_id}%23{suffix}")[0]["id"]


ANNA = "SE2321000131-P000000001001"  # läkare, member of Alfa's inboxes
CECILIA = "SE2321000131-P000000001003"  # sjuksköterska at Alfa, member of Alfa samverkan
LARS = "SE2120000001-P000000003001"  # municipal nurse, member of Exempelkommun samverkan
MARIA = "SE2120000001-P000000003002"  # inkorgsadministratör, member of Exempelkommun samverkan and meddelande
NILS = "SE2120000002-P000000003101"  # Provstad, member of Provstad samverkan
JON = "SE2321000131-P000000001010"  # distriktsläkare at Gamma
OLGA = "SE2120000001-P000000004001"  # school nurse
ALFA = "SE2321000131-E000000000101"
GAMMA = "SE2321000131-E000000000103"
KOMMUN_A = "SE2120000001-E000000000301"
KOMMUN_B = "SE2120000002-E000000000302"
SKOLA = "SE2120000001-E000000000401"

_counter = iter(range(1, 10**9))


def message(sender: str, recipients: list[str], *, category: str = "message", identifier: str | None = None,
            sent_by: str | None = None, patient: bool = False, save: bool | None = None, **extra) -> dict:
    resource = {
        "resourceType": "Communication",
        "status": "completed",
        "identifier": [{"system": "urn:example:sender-system", "value": identifier or f"msg-{next(_counter)}"}],
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": category}]}],
        "sender": {"reference": sender},
        "recipient": [{"reference": r} for r in recipients],
        "payload": [{"contentString": "Hej! Synthetic test message."}],
        **extra,
    }
    extensions = list(resource.get("extension", []))
    if sent_by:
        extensions.append({"url": f"{BASE}/StructureDefinition/sent-by", "valueReference": {"reference": sent_by}})
    if save is not None:
        extensions.append({"url": f"{BASE}/StructureDefinition/save-to-journal", "valueBoolean": save})
    if extensions:
        resource["extension"] = extensions
    if patient:
        resource["subject"] = {"identifier": dict(PERSONNUMMER)}
    return resource


def send(client, resource, headers=None):
    return client.post("/fhir/Communication", json=resource, headers={**FHIR_JSON, **(headers or {})})


def items(client, owner: str) -> list[dict]:
    return search(client, f"Task?owner={owner}")
