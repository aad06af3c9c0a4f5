"""Documents (MC-R18): co-signing, review, referral answers — in the recipient's Documents."""


from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, bearer, rule_of, search
from tests.integration.messaging_helpers import ANNA, CECILIA, JON
from tests.integration.test_results import PATIENT

EVA = "SE2321000131-P000000001005"  # student, supervisor Anna



def _document(flow, author, **extra):
    return {"resourceType": "DocumentReference", "status": "current", "subject": PATIENT,
            "category": [{"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": flow}]}],
            "author": [{"reference": author}], "content": [{"attachment": {"contentType": "text/plain", "data": "SGVq"}}], **extra}


def _post(client, resource):
    return client.post("/fhir/DocumentReference", json=resource, headers=FHIR_JSON)


def _documents_folder(client, owner):
    return [(t["code"]["coding"][0]["code"], t["focus"]["reference"]) for t in search(client, f"Task?owner={owner}&folder=documents")]


def test_a_students_preliminary_documentation_is_co_signed_by_the_supervisor_mc_r18(client, inbox):
    document = _post(client, _document("document-sign", inbox.personal(EVA), docStatus="preliminary")).get_json()
    assert _documents_folder(client, inbox.personal(ANNA)) == [("document-sign", f"DocumentReference/{document['id']}")]


def test_documentation_to_co_sign_is_preliminary_and_has_a_supervisor_mc_r18(client, inbox):
    assert rule_of(_post(client, _document("document-sign", inbox.personal(EVA), docStatus="final"))) == "MC-R18"
    assert rule_of(_post(client, _document("document-sign", inbox.personal(CECILIA), docStatus="preliminary"))) == "MC-R18"


def test_a_scanned_document_goes_to_the_named_reviewer_mc_r18(client, inbox):
    named = [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": inbox.personal(JON)}}]
    document = _post(client, _document("document-review", inbox.personal(CECILIA), extension=named)).get_json()
    assert _documents_folder(client, inbox.personal(JON)) == [("document-review", f"DocumentReference/{document['id']}")]
    assert rule_of(_post(client, _document("document-review", inbox.personal(CECILIA)))) == "MC-R18"


def test_a_referral_answer_lands_with_the_referrer_and_is_found_from_the_referral_mc_r18(app, client, inbox):
    referral = client.post("/fhir/ServiceRequest", json={
        "resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": PATIENT,
        "code": {"text": "Remiss: kardiologi"}, "requester": {"reference": inbox.personal(ANNA)}}, headers=FHIR_JSON).get_json()
    answer = _post(client, _document("referral-answer", inbox.personal(JON),
                                     context={"related": [{"reference": f"ServiceRequest/{referral['id']}"}]})).get_json()
    assert _documents_folder(client, inbox.personal(ANNA)) == [("referral-answer", f"DocumentReference/{answer['id']}")]
    found = search(client, f"DocumentReference?related=ServiceRequest/{referral['id']}", bearer(app, hsa_id=ANNA))
    assert [d["id"] for d in found] == [answer["id"]]
    assert search(client, f"DocumentReference?related=ServiceRequest/{referral['id']}", bearer(app, hsa_id=CECILIA)) == []


def test_a_document_names_its_flow_mc_r18(client, inbox):
    document = _document("message", inbox.personal(JON))
    assert rule_of(_post(client, document)) == "MC-R18"
