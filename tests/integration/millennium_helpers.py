"""A configured connector, the emulator behind `responses`, and Millennium ids in the sandbox directory."""

from __future__ import annotations

import pytest
import responses

from adapter.identifiers import MILLENNIUM_GROUP, MILLENNIUM_PRACTITIONER, PERSONNUMMER_OID
from adapter.millennium.settings import MillenniumSettings
from tests.helpers import FHIR_JSON, put
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, KOMMUN_B, PERSONNUMMER
from tests.millennium_emulator import MillenniumEmulator, key_pair

TENANT = "https://millennium.example.test"
INTEGRATION = "900001"  # the Millennium Practitioner the adapter writes as
ANNA_MID, ALFA_GROUP, KOMMUN_A_GROUP, KOMMUN_B_GROUP, PATIENT_MID = "12724066", "7700101", "7700301", "7700302", "1316024"
PRIVATE_JWK, PUBLIC_JWK = key_pair()


def settings(base: str = TENANT, **changes) -> MillenniumSettings:
    return MillenniumSettings(base_url=f"{base}/r4", token_url=f"{base}/token", client_id="mc-adapter",
                              private_jwk=PRIVATE_JWK, integration_practitioner=INTEGRATION, **changes)


def emulator(**options) -> MillenniumEmulator:
    """A tenant with Anna, the integration user, Alfa's samverkan pool, the municipalities' mirrors and a patient."""
    tenant = MillenniumEmulator(client_id="mc-adapter", public_jwk=PUBLIC_JWK, **options)
    for practitioner in (INTEGRATION, ANNA_MID, "12724067"):
        tenant.add_practitioner(practitioner)
    for group in (ALFA_GROUP, KOMMUN_A_GROUP, KOMMUN_B_GROUP):
        tenant.add_group(group)
    tenant.add_patient(system=PERSONNUMMER_OID, value=PERSONNUMMER["value"], millennium_id=PATIENT_MID)
    return tenant


def add_identifier(client, reference: str, system: str, value: str) -> None:
    """Give a directory resource its Millennium id (as a directory load would)."""
    resource = client.get(f"/fhir/{reference}").get_json()
    resource.setdefault("identifier", []).append({"system": system, "value": value})
    answer = put(client, reference, resource, {**FHIR_JSON, "If-Match": f'W/"{resource["meta"]["versionId"]}"'})
    assert answer.status_code == 200, answer.get_json()


def place_in_millennium(client, inbox) -> None:
    """Anna and Alfa's samverkan pool live in Millennium; the municipalities' samverkan inboxes are mirrored there."""
    add_identifier(client, inbox.personal(ANNA), MILLENNIUM_PRACTITIONER, ANNA_MID)
    add_identifier(client, inbox.shared(ALFA), MILLENNIUM_GROUP, ALFA_GROUP)
    add_identifier(client, inbox.shared(KOMMUN_A), MILLENNIUM_GROUP, KOMMUN_A_GROUP)
    add_identifier(client, inbox.shared(KOMMUN_B), MILLENNIUM_GROUP, KOMMUN_B_GROUP)


@pytest.fixture
def tenant():
    """The emulator, answering the adapter's HTTP through `responses`."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        emulated = emulator(sleep_seconds=0)
        emulated.mock(mocked, TENANT)
        yield emulated
