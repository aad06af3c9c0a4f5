"""Orders (MC-R15, MC-R16) and consults (MC-R2, MC-R30)."""


from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, bearer, rule_of, search
from tests.integration.messaging_helpers import ALFA, ANNA, CECILIA, JON, items
from tests.integration.test_results import PATIENT

BERTIL = "SE2321000131-P000000001002"  # läkare under utbildning, supervisor Anna
EVA = "SE2321000131-P000000001005"  # student, supervisor Anna



def _request(requester, intent="order", responsible=None, **extra):
    order = {"resourceType": "ServiceRequest", "status": "active" if intent == "order" else "draft", "intent": intent,
             "subject": PATIENT, "code": {"text": "Waran 2,5 mg"}, "requester": {"reference": requester}, **extra}
    if responsible:
        order["extension"] = [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": responsible}}]
    return order


def _post(client, resource):
    return client.post("/fhir/ServiceRequest", json=resource, headers=FHIR_JSON)


def _kinds(client, inbox, person):
    return [t["code"]["coding"][0]["code"] for t in items(client, inbox.personal(person))]


def test_a_proposed_order_waits_for_the_responsible_physicians_signature_mc_r15(app, client, inbox):
    proposal = _post(client, _request(inbox.personal(EVA), intent="proposal", responsible=inbox.personal(ANNA))).get_json()
    [item] = items(client, inbox.personal(ANNA))
    assert item["code"]["coding"][0]["code"] == "order-proposal" and item["focus"]["reference"] == f"ServiceRequest/{proposal['id']}"
    signed = client.post(f"/fhir/Task/{item['id']}/$sign", json={"resourceType": "Parameters"}, headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert signed.status_code == 200
    [order] = [o for o in search(client, "ServiceRequest?_count=50")
               if o.get("basedOn") == [{"reference": f"ServiceRequest/{proposal['id']}"}]]
    assert order["intent"] == "order" and order["status"] == "active"
    assert client.get(f"/fhir/ServiceRequest/{proposal['id']}").get_json()["status"] == "completed"


def test_a_proposal_names_a_physician_to_sign_it_mc_r15(client, inbox):
    assert rule_of(_post(client, _request(inbox.personal(EVA), intent="proposal"))) == "MC-R15"
    assert rule_of(_post(client, _request(inbox.personal(EVA), intent="proposal", responsible=inbox.personal(CECILIA)))) == "MC-R15"


def test_a_trainees_order_is_active_at_once_and_co_signed_by_the_supervisor_mc_r16(client, inbox):
    response = _post(client, _request(inbox.personal(BERTIL)))
    assert response.status_code == 201 and response.get_json()["status"] == "active"
    assert _kinds(client, inbox, ANNA) == ["order-cosign"]


def test_a_nurses_order_is_co_signed_by_the_physician_named_on_it_mc_r16(client, inbox):
    assert _post(client, _request(inbox.personal(CECILIA), responsible=inbox.personal(JON))).status_code == 201
    assert _kinds(client, inbox, JON) == ["order-cosign"]


def test_an_order_nobody_can_co_sign_is_refused_mc_r16(client, inbox):
    response = _post(client, _request(inbox.personal(CECILIA)))
    assert response.status_code == 422 and rule_of(response) == "MC-R16"
    assert _post(client, _request(inbox.personal(CECILIA), responsible=inbox.personal(CECILIA))).status_code == 422


def test_a_physicians_order_needs_no_co_signature(client, inbox):
    assert _post(client, _request(inbox.personal(ANNA))).status_code == 201
    assert _kinds(client, inbox, ANNA) == []


def _consult(requester, performer):
    return _request(requester, category=[{"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "consult"}]}],
                    performer=[{"reference": performer}])


def test_a_consult_goes_to_the_consult_function_inbox_mc_r30(app, client, inbox):
    consult_inbox = inbox.shared(ALFA, "konsult-medicin")
    response = _post(client, _consult(inbox.personal(JON), consult_inbox))
    assert response.status_code == 201
    [item] = items(client, consult_inbox)
    assert item["code"]["coding"][0]["code"] == "consult"
    # Anna is a member of the consult inbox: she sees the consult and its order.
    assert client.get(f"/fhir/ServiceRequest/{response.get_json()['id']}", headers=bearer(app, hsa_id=ANNA)).status_code == 200


def test_a_consult_to_anything_but_a_function_inbox_is_refused_mc_r30(client, inbox):
    assert rule_of(_post(client, _consult(inbox.personal(JON), inbox.shared(ALFA)))) == "MC-R30"


def test_a_medication_order_by_a_trainee_is_co_signed_too_mc_r16(client, inbox):
    medication = {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": PATIENT,
                  "medicationCodeableConcept": {"text": "Waran 2,5 mg"}, "requester": {"reference": inbox.personal(BERTIL)}}
    assert client.post("/fhir/MedicationRequest", json=medication, headers=FHIR_JSON).status_code == 201
    assert _kinds(client, inbox, ANNA) == ["order-cosign"]


def test_a_proposed_medication_order_signed_becomes_an_order_mc_r15(app, client, inbox):
    medication = {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal", "subject": PATIENT,
                  "medicationCodeableConcept": {"text": "Alvedon 500 mg"}, "requester": {"reference": inbox.personal(EVA)},
                  "extension": [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": inbox.personal(ANNA)}}]}
    proposal = client.post("/fhir/MedicationRequest", json=medication, headers=FHIR_JSON).get_json()
    [item] = items(client, inbox.personal(ANNA))
    client.post(f"/fhir/Task/{item['id']}/$sign", json={"resourceType": "Parameters"}, headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    orders = [o for o in search(client, "MedicationRequest?_count=50") if o.get("basedOn") == [{"reference": f"MedicationRequest/{proposal['id']}"}]]
    assert [o["intent"] for o in orders] == ["order"]
