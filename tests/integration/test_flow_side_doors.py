"""The paths around the flow policy (#11): each goes through the same rules, over HTTP (MC-R3, MC-R7, MC-R19, MC-R8)."""

from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, bearer, rule_of, search
from tests.integration.messaging_helpers import (
    ALFA, ANNA, CECILIA, JON, KOMMUN_A, LARS, MARIA, OLGA, SKOLA, items, message, send,
)

DELTA = "SE5560000001-E000000000201"
PRIVAT = "SE5560000001-P000000002001"  # läkare at Delta, a private provider


def _reminder(owner: str, requester: str) -> dict:
    return {"resourceType": "Task", "status": "requested", "intent": "order", "restriction": {"period": {"end": "2026-12-01"}},
            "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
            "owner": {"reference": owner}, "requester": {"reference": requester},
            "extension": [{"url": f"{BASE}/StructureDefinition/dialogue-held", "valueBoolean": True}]}


def test_municipal_and_school_nurses_cannot_put_reminders_in_a_clinicians_inbox_mc_r7_mc_r3(app, client, inbox):
    for nurse, rule in ((LARS, "MC-R7"), (OLGA, "MC-R3")):
        response = client.post("/fhir/Task", json=_reminder(inbox.personal(ANNA), inbox.personal(nurse)),
                               headers={**FHIR_JSON, **bearer(app, hsa_id=nurse)})
        assert response.status_code == 422 and rule_of(response) == rule, response.get_json()
    assert items(client, inbox.personal(ANNA)) == []


def test_a_reminder_to_a_colleague_at_another_care_provider_is_refused_mc_r3(app, client, inbox):
    response = client.post("/fhir/Task", json=_reminder(inbox.personal(PRIVAT), inbox.personal(ANNA)),
                           headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert response.status_code == 422 and rule_of(response) == "MC-R3"
    colleague = client.post("/fhir/Task", json=_reminder(inbox.personal(JON), inbox.personal(ANNA)),
                            headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert colleague.status_code == 201  # Gamma is VGR too: the same care provider


def test_a_municipal_client_sends_no_system_messages_mc_r19(app, client, inbox):
    for category in ("fk-question", "erecept-error"):
        resource = message(inbox.shared(KOMMUN_A), [inbox.personal(ANNA)], category=category)
        response = send(client, resource, bearer(app, client="kommun-a", org=KOMMUN_A))
        assert response.status_code == 422 and rule_of(response) == "MC-R19"
    assert items(client, inbox.personal(ANNA)) == []


def test_personal_inboxes_of_two_care_providers_do_not_meet_mc_r3(client, inbox):
    response = send(client, message(inbox.personal(ANNA), [inbox.personal(PRIVAT)]))
    assert response.status_code == 422 and rule_of(response) == "MC-R3"
    assert "samverkan" in response.get_json()["issue"][0]["details"]["text"]


def test_providers_meet_samverkan_to_samverkan_and_never_from_a_meddelande_inbox_mc_r3_mc_r5(client, inbox):
    assert send(client, message(inbox.shared(ALFA), [inbox.shared(DELTA)], sent_by=inbox.personal(ANNA))).status_code == 201
    refused = send(client, message(inbox.shared(ALFA, "meddelande"), [inbox.shared(DELTA)], sent_by=inbox.personal(ANNA)))
    assert refused.status_code == 422 and rule_of(refused) == "MC-R3"


def test_a_region_clinician_writes_to_a_municipality_only_from_a_samverkan_inbox_mc_r7(client, inbox):
    refused = send(client, message(inbox.personal(ANNA), [inbox.shared(KOMMUN_A)]))
    assert refused.status_code == 422 and rule_of(refused) == "MC-R7"
    assert send(client, message(inbox.shared(ALFA), [inbox.shared(KOMMUN_A)], sent_by=inbox.personal(ANNA))).status_code == 201


def test_the_save_to_journal_flag_follows_the_case_mc_r8(client, inbox):
    start = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], category="case-start", sent_by=inbox.personal(MARIA),
                                 patient=True, save=True))
    assert start.status_code == 201, start.get_json()
    [case] = items(client, inbox.shared(ALFA))
    follow = message(inbox.shared(ALFA), [], category="case-message", sent_by=inbox.personal(CECILIA),
                     partOf=[{"reference": f"Task/{case['id']}"}])
    response = send(client, follow)
    assert response.status_code == 201, response.get_json()
    flags = [e for e in response.get_json().get("extension", []) if e["url"].endswith("/save-to-journal")]
    assert flags == [{"url": f"{BASE}/StructureDefinition/save-to-journal", "valueBoolean": True}]


def test_the_case_starter_sees_its_case_and_continues_it(app, client, inbox):
    start = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], category="case-start", sent_by=inbox.personal(MARIA)))
    [case] = items(client, inbox.shared(ALFA))
    assert client.get(f"/fhir/Task/{case['id']}", headers=bearer(app, hsa_id=MARIA)).status_code == 200
    follow = message(inbox.shared(KOMMUN_A), [], category="case-message", sent_by=inbox.personal(MARIA),
                     partOf=[{"reference": f"Task/{case['id']}"}])
    assert send(client, follow, bearer(app, hsa_id=MARIA)).status_code == 201
    assert start.status_code == 201


def test_a_sender_is_the_party_of_the_assignment_they_act_under(app, client, inbox):
    """A region physician who also works for a municipality counts as care when acting at the region unit."""
    kommun = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{KOMMUN_A}")[0]["id"]
    jon = inbox.personal(JON).split("/")[1]
    role = {"resourceType": "PractitionerRole", "practitioner": {"reference": f"Practitioner/{jon}"},
            "organization": {"reference": f"Organization/{kommun}"},
            "code": [{"coding": [{"system": f"{BASE}/CodeSystem/role", "code": "sjukskoterska"}]}]}
    assert client.post("/fhir/PractitionerRole", json=role, headers=FHIR_JSON).status_code == 201
    gamma = "SE2321000131-E000000000103"
    as_region = send(client, message(inbox.personal(JON), [inbox.personal(ANNA)]), bearer(app, hsa_id=JON, unit=gamma))
    assert as_region.status_code == 201, as_region.get_json()
    as_anyone = send(client, message(inbox.personal(JON), [inbox.personal(ANNA)]), bearer(app, hsa_id=JON))
    assert as_anyone.status_code == 422 and rule_of(as_anyone) == "MC-R7"  # without a unit: every role counts
    to_him = send(client, message(inbox.personal(ANNA), [inbox.personal(JON)]), bearer(app, hsa_id=ANNA))
    assert to_him.status_code == 422 and rule_of(to_him) == "MC-R7"  # as a recipient he is municipal too


def test_a_nurse_orders_only_as_herself_and_a_student_only_proposes_mc_r15_mc_r16(app, client, inbox):
    order = {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "code": {"text": "P-Glukos"},
             "subject": {"identifier": {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}},
             "requester": {"reference": inbox.personal(ANNA)}}
    forged = client.post("/fhir/ServiceRequest", json=order, headers={**FHIR_JSON, **bearer(app, hsa_id=CECILIA)})
    assert forged.status_code == 422 and rule_of(forged) == "MC-R16"
    student = "SE2321000131-P000000001005"
    own = {**order, "requester": {"reference": inbox.personal(student)}}
    response = client.post("/fhir/ServiceRequest", json=own, headers={**FHIR_JSON, **bearer(app, hsa_id=student)})
    assert response.status_code == 422 and rule_of(response) == "MC-R15"
    municipal_client = client.post("/fhir/ServiceRequest", json=order, headers={**FHIR_JSON, **bearer(app, client="k", org=KOMMUN_A)})
    assert municipal_client.status_code == 403


def test_the_school_reaches_the_region_through_samverkan_only_mc_r3(client, inbox):
    refused = send(client, message(inbox.shared(SKOLA), [inbox.personal(ANNA)], sent_by=inbox.personal(OLGA)))
    assert refused.status_code == 422 and rule_of(refused) == "MC-R3"
    assert send(client, message(inbox.shared(SKOLA), [inbox.shared(ALFA)], sent_by=inbox.personal(OLGA))).status_code == 201
