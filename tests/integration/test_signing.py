"""Signing (MC-R45, MC-R46): a signed result leaves the inbox, and the Provenance shows who signed."""


from tests.helpers import FHIR_JSON, bearer, rule_of, search
from tests.integration.messaging_helpers import ANNA, JON, items

BERTIL = "SE2321000131-P000000001002"
from tests.integration.test_results import _order, _report



def _result_item(client, inbox, orderer):
    order = client.post("/fhir/ServiceRequest", json=_order(inbox.personal(orderer)), headers=FHIR_JSON).get_json()
    report = client.post("/fhir/DiagnosticReport", json=_report(f"ServiceRequest/{order['id']}"), headers=FHIR_JSON).get_json()
    [item] = [t for t in items(client, inbox.personal(orderer)) if t["code"]["coding"][0]["code"] == "result"]
    return report, item


def _sign(client, task_id, headers):
    return client.post(f"/fhir/Task/{task_id}/$sign", json={"resourceType": "Parameters"}, headers={**FHIR_JSON, **headers})


def test_a_signed_result_leaves_the_inbox_and_the_provenance_shows_the_signer_mc_r46(app, client, inbox):
    from adapter.audit.service import AUDITED_TYPES

    assert "Task" in AUDITED_TYPES  # the signature below is audited with the item
    report, item = _result_item(client, inbox, ANNA)
    response = _sign(client, item["id"], bearer(app, hsa_id=ANNA))
    assert response.status_code == 200, response.get_json()
    provenance = response.get_json()
    assert provenance["target"] == [{"reference": f"DiagnosticReport/{report['id']}/_history/1"}]
    assert provenance["agent"][0]["who"] == {"reference": inbox.personal(ANNA)}
    assert "onBehalfOf" not in provenance["agent"][0]
    assert search(client, f"Task?owner={inbox.personal(ANNA)}&status=requested,in-progress,on-hold") == []
    found = search(client, f"Provenance?target=DiagnosticReport/{report['id']}", bearer(app, hsa_id=ANNA))
    assert [p["id"] for p in found] == [provenance["id"]]


def test_only_a_practitioner_with_signing_authority_signs_mc_r45(app, client, inbox):
    # Bertil (läkare under utbildning) has no signing authority; his orders are co-signed by Anna.
    _, item = _result_item(client, inbox, BERTIL)
    response = _sign(client, item["id"], bearer(app, hsa_id=BERTIL))
    assert response.status_code == 422 and rule_of(response) == "MC-R45"
    result_items = [t for t in items(client, inbox.personal(BERTIL)) if t["code"]["coding"][0]["code"] == "result"]
    assert result_items[0]["status"] == "requested"


def test_nobody_signs_what_they_cannot_see(app, client, inbox):
    _, item = _result_item(client, inbox, ANNA)
    assert _sign(client, item["id"], bearer(app, hsa_id=JON)).status_code == 404


def test_an_item_is_signed_once_and_systems_do_not_sign(app, client, inbox):
    _, item = _result_item(client, inbox, ANNA)
    assert _sign(client, item["id"], bearer(app, client="lab", org="SE2321000131-E000000000101")).status_code == 403
    assert _sign(client, item["id"], bearer(app, hsa_id=ANNA)).status_code == 200
    assert _sign(client, item["id"], bearer(app, hsa_id=ANNA)).status_code == 409


def test_a_message_item_is_completed_not_signed(app, client, inbox):
    from tests.integration.messaging_helpers import message, send

    send(client, message(inbox.personal(JON), [inbox.personal(ANNA)]))
    [item] = items(client, inbox.personal(ANNA))
    assert _sign(client, item["id"], bearer(app, hsa_id=ANNA)).status_code == 422
