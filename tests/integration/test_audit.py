"""The audit trail: every access to patient data is recorded; revisors extract it per patient."""

import logging


from tests.helpers import FHIR_JSON, bearer, rule_of, search
from tests.integration.messaging_helpers import (
    ALFA, ANNA, CECILIA, JON, KOMMUN_A, MARIA, PERSONNUMMER, items, message, send,
)

REVISOR = "SE2321000131-P000000009002"
PATIENT = f"{PERSONNUMMER['system']}|{PERSONNUMMER['value']}"



def _extract(app, client, query):
    response = client.get(f"/fhir/AuditEvent?{query}&_count=100", headers=bearer(app, hsa_id=REVISOR))
    assert response.status_code == 200, response.get_json()
    return [e["resource"] for e in response.get_json().get("entry", [])]


def test_a_patient_log_extract_lists_exactly_the_accesses_made(app, client, inbox):
    maria = bearer(app, hsa_id=MARIA, unit=KOMMUN_A)
    cecilia = bearer(app, hsa_id=CECILIA)
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True), maria).get_json()
    send(client, message(inbox.personal(ANNA), [inbox.personal(JON)]), bearer(app, hsa_id=ANNA))  # no patient: not audited
    client.get(f"/fhir/Task?owner={inbox.shared(ALFA)}", headers=cecilia)  # Cecilia polls and sees the patient's item
    client.get(f"/fhir/Communication/{sent['id']}", headers=cecilia)  # and reads the message
    extract = _extract(app, client, f"patient={PATIENT}")
    assert [(e["action"], e["subtype"][0]["code"], e["agent"][0]["who"]["reference"]) for e in extract] == [
        ("C", "create", inbox.personal(MARIA)), ("E", "search-type", inbox.personal(CECILIA)), ("R", "read", inbox.personal(CECILIA))]
    first = extract[0]
    assert first["outcome"] == "0"
    assert first["agent"][0]["extension"][0]["valueIdentifier"]["value"] == KOMMUN_A  # the assignment acted under
    assert {"reference": f"Communication/{sent['id']}"} in [e["what"] for e in first["entity"]]
    assert {"identifier": PERSONNUMMER} in [e["what"] for e in first["entity"]]


def test_the_extract_is_searched_by_entity_agent_and_date(app, client, inbox):
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True)).get_json()
    assert len(_extract(app, client, f"entity=Communication/{sent['id']}")) == 1
    assert len(_extract(app, client, "agent=sandbox-operator&date=ge2020-01-01")) == 1
    assert _extract(app, client, "agent=sandbox-operator&date=lt2020-01-01") == []


def test_a_refused_request_on_patient_data_is_audited_and_stores_nothing_else(app, client, inbox):
    refused = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True),
                   bearer(app, hsa_id=MARIA))
    assert rule_of(refused) == "MC-R8"
    [event] = _extract(app, client, f"agent=Practitioner/{inbox.personal(MARIA).split('/')[1]}")
    assert event["outcome"] == "4" and "business-rule" in event["outcomeDesc"]
    assert search(client, "Communication") == [] and items(client, inbox.shared(ALFA)) == []


def test_a_client_access_names_the_client_and_its_organisation(app, client, inbox):
    send(client, message(inbox.shared(ALFA), [inbox.personal(ANNA)], category="erecept-error", patient=True, save=True),
         bearer(app, client="erecept", org=ALFA))
    [event] = _extract(app, client, "agent=erecept")
    agent = event["agent"][0]
    assert agent["who"]["identifier"]["value"] == "erecept"
    assert agent["extension"][0]["valueIdentifier"]["value"] == ALFA


def test_only_a_revisor_reads_the_audit_trail(app, client, inbox):
    send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True))
    [event] = _extract(app, client, f"patient={PATIENT}")
    assert client.get(f"/fhir/AuditEvent?patient={PATIENT}", headers=bearer(app, hsa_id=ANNA)).status_code == 403
    assert client.get(f"/fhir/AuditEvent/{event['id']}", headers=bearer(app, hsa_id=ANNA)).status_code == 404
    assert client.get(f"/fhir/AuditEvent/{event['id']}", headers=bearer(app, hsa_id=REVISOR)).status_code == 200


def test_the_audit_trail_is_append_only(app, client, inbox):
    send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True))
    [event] = _extract(app, client, f"patient={PATIENT}")
    headers = {**FHIR_JSON, **bearer(app, hsa_id=REVISOR)}
    assert client.put(f"/fhir/AuditEvent/{event['id']}", json=event, headers=headers).status_code == 405
    assert client.post("/fhir/AuditEvent", json=event, headers=headers).status_code == 405


def test_an_extract_names_what_it_is_about(app, client, inbox):
    assert client.get("/fhir/AuditEvent?date=ge2020-01-01", headers=bearer(app, hsa_id=REVISOR)).status_code == 400


def test_audit_events_are_valid_fhir(app, client, inbox):
    send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True))
    [event] = _extract(app, client, f"patient={PATIENT}")
    app.extensions["mc"].validator.validate(event, "AuditEvent")


def test_logs_never_carry_patient_data(app, client, inbox, caplog):
    caplog.set_level(logging.DEBUG)
    bad = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True)
    send(client, bad)
    client.get(f"/fhir/Communication?subject:identifier={PATIENT}")
    client.post("/fhir/Communication", data="{" + '"x":"191212121212",' * 3, headers=FHIR_JSON)
    assert "191212121212" not in caplog.text and "19121212" not in caplog.text
