"""Results (MC-R17): only the orderer, or who is responsible for the order, gets a result in a personal inbox."""


from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, bearer, issue, rule_of, search
from tests.integration.messaging_helpers import ANNA, CECILIA, JON, PERSONNUMMER, items

PATIENT = {"identifier": dict(PERSONNUMMER)}



def _order(requester, responsible=None, **extra):
    order = {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": PATIENT,
             "code": {"text": "P-Glukos"}, "requester": {"reference": requester}, **extra}
    if responsible:
        order["extension"] = [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": responsible}}]
    return order


def _report(based_on, status="final", **extra):
    return {"resourceType": "DiagnosticReport", "status": status, "code": {"text": "P-Glukos"}, "subject": PATIENT,
            "basedOn": [{"reference": based_on}], "conclusion": "Normalt.", **extra}


def _transaction(client, order, report):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0e1f3b0a-0000-4000-8000-000000000001", "resource": order, "request": {"method": "POST", "url": "ServiceRequest"}},
        {"resource": report, "request": {"method": "POST", "url": "DiagnosticReport"}}]}
    return client.post("/fhir", json=bundle, headers=FHIR_JSON)


def _all_personal_results(client, inbox, people):
    return {p: [t["focus"]["reference"] for t in items(client, inbox.personal(p)) if t["code"]["coding"][0]["code"] == "result"]
            for p in people}


def test_a_result_goes_to_the_practitioner_responsible_for_the_order_and_no_one_else_mc_r17(client, inbox):
    response = _transaction(client, _order(inbox.personal(ANNA), responsible=inbox.personal(JON)),
                            _report("urn:uuid:0e1f3b0a-0000-4000-8000-000000000001"))
    assert response.status_code == 200, response.get_json()
    report_id = response.get_json().get("entry", [])[1]["resource"]["id"]
    assert _all_personal_results(client, inbox, [ANNA, JON, CECILIA]) == {
        ANNA: [], JON: [f"DiagnosticReport/{report_id}"], CECILIA: []}
    [item] = items(client, inbox.personal(JON))
    assert item["for"] == PATIENT and item["requester"] == {"reference": inbox.personal(ANNA)}


def test_without_a_responsible_practitioner_the_result_goes_to_whoever_ordered_it_mc_r17(client, inbox):
    order = client.post("/fhir/ServiceRequest", json=_order(inbox.personal(ANNA)), headers=FHIR_JSON).get_json()
    response = client.post("/fhir/DiagnosticReport", json=_report(f"ServiceRequest/{order['id']}"), headers=FHIR_JSON)
    assert response.status_code == 201
    assert _all_personal_results(client, inbox, [ANNA, JON]) == {ANNA: [f"DiagnosticReport/{response.get_json()['id']}"], JON: []}


def test_a_contained_order_is_enough(client, inbox):
    order = {**_order(inbox.personal(ANNA)), "id": "order"}
    response = client.post("/fhir/DiagnosticReport", json=_report("#order", contained=[order]), headers=FHIR_JSON)
    assert response.status_code == 201
    assert len(items(client, inbox.personal(ANNA))) == 1


def test_a_result_without_a_resolvable_orderer_is_422_and_stores_nothing_mc_r17(client, inbox):
    unit = search(client, "Organization?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-E000000000101")[0]
    order = client.post("/fhir/ServiceRequest", json=_order(f"Organization/{unit['id']}"), headers=FHIR_JSON).get_json()
    response = client.post("/fhir/DiagnosticReport", json=_report(f"ServiceRequest/{order['id']}"), headers=FHIR_JSON)
    assert response.status_code == 422 and rule_of(response) == "MC-R17"
    assert client.get("/fhir/DiagnosticReport?based-on=ServiceRequest/" + order["id"]).get_json().get("entry", []) == []
    response = client.post("/fhir/DiagnosticReport", json={**_report("x"), "basedOn": []}, headers=FHIR_JSON)
    assert rule_of(response) == "MC-R17" and issue(response)["expression"] == ["DiagnosticReport.basedOn"]


def test_a_corrected_result_puts_the_same_item_back_to_waiting(client, inbox):
    order = client.post("/fhir/ServiceRequest", json=_order(inbox.personal(ANNA)), headers=FHIR_JSON).get_json()
    report = client.post("/fhir/DiagnosticReport", json=_report(f"ServiceRequest/{order['id']}"), headers=FHIR_JSON).get_json()
    [item] = items(client, inbox.personal(ANNA))
    opened = client.patch(f"/fhir/Task/{item['id']}", json=[{"op": "replace", "path": "/status", "value": "in-progress"}],
                          headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'}).get_json()
    client.patch(f"/fhir/Task/{item['id']}", json=[{"op": "replace", "path": "/status", "value": "completed"}],
                 headers={"Content-Type": "application/json-patch+json", "If-Match": f'W/"{opened["meta"]["versionId"]}"'})
    report["status"] = "corrected"
    report["conclusion"] = "Förhöjt; kontrollera."
    assert client.put(f"/fhir/DiagnosticReport/{report['id']}", json=report, headers=FHIR_JSON).status_code == 200
    [again] = items(client, inbox.personal(ANNA))
    assert again["id"] == item["id"] and again["status"] == "requested"
    assert again["businessStatus"]["coding"][0]["code"] == "waiting"


def test_the_orderer_sees_the_result_and_others_get_404(app, client, inbox):
    order = client.post("/fhir/ServiceRequest", json=_order(inbox.personal(ANNA)), headers=FHIR_JSON).get_json()
    report = client.post("/fhir/DiagnosticReport", json=_report(f"ServiceRequest/{order['id']}"), headers=FHIR_JSON).get_json()
    assert client.get(f"/fhir/DiagnosticReport/{report['id']}", headers=bearer(app, hsa_id=ANNA)).status_code == 200
    assert client.get(f"/fhir/DiagnosticReport/{report['id']}", headers=bearer(app, hsa_id=JON)).status_code == 404
    assert client.get(f"/fhir/ServiceRequest/{order['id']}", headers=bearer(app, hsa_id=JON)).status_code == 404
    changed = {**report, "conclusion": "x"}
    assert client.put(f"/fhir/DiagnosticReport/{report['id']}", json=changed, headers={**FHIR_JSON, **bearer(app, hsa_id=JON)}).status_code == 404
