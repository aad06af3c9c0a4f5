"""The hostile probe's doors (#10), each shut: what a caller may not see is never disclosed, counted or
reachable, whatever the request (DESIGN.md, "Security": 404 for what the caller may not see)."""

from datetime import timedelta
from urllib.parse import quote

import pytest

from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, bearer, issue, search
from tests.integration.messaging_helpers import (
    ALFA, ANNA, CECILIA, JON, KOMMUN_A, KOMMUN_B, LARS, NILS, PERSONNUMMER, items, message, send,
)

PNR = f"{PERSONNUMMER['system']}|{PERSONNUMMER['value']}"
OTHER_PNR = "http://electronichealth.se/identifier/personnummer|191010101010"  # Skatteverket's test number, no data
REVISOR = "SE2321000131-P000000009002"


@pytest.fixture
def hidden(app, client, inbox):
    """Region data a municipality must never reach: a message Provstad -> Alfa, a region order and its
    result, a signature, and a document for Jon."""
    sent = send(client, message(inbox.shared(KOMMUN_B), [inbox.shared(ALFA)], sent_by=inbox.personal(NILS),
                                patient=True, save=True))
    assert sent.status_code == 201, sent.get_json()
    lab = bearer(app, client="region-lab", org=ALFA, capabilities=("result-source",))
    lab_unit = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{ALFA}")[0]["id"]
    order = client.post("/fhir/ServiceRequest", headers=FHIR_JSON, json={  # the lab performs it, so it sees it
        "resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": {"identifier": dict(PERSONNUMMER)},
        "code": {"text": "P-Glukos"}, "requester": {"reference": inbox.personal(ANNA)},
        "performer": [{"reference": f"Organization/{lab_unit}"}]})
    assert order.status_code == 201, order.get_json()
    report = client.post("/fhir/DiagnosticReport", headers={**FHIR_JSON, **lab}, json={
        "resourceType": "DiagnosticReport", "status": "final", "code": {"text": "P-Glukos"},
        "subject": {"identifier": dict(PERSONNUMMER)}, "basedOn": [{"reference": f"ServiceRequest/{order.get_json()['id']}"}],
        "conclusion": "Normalt."})
    assert report.status_code == 201, report.get_json()
    [result_item] = [t for t in items(client, inbox.personal(ANNA)) if t["code"]["coding"][0]["code"] == "result"]
    signed = client.post(f"/fhir/Task/{result_item['id']}/$sign", json={"resourceType": "Parameters"},
                         headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert signed.status_code == 200, signed.get_json()
    document = client.post("/fhir/DocumentReference", headers=FHIR_JSON, json={
        "resourceType": "DocumentReference", "status": "current",
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "document-review"}]}],
        "extension": [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": inbox.personal(JON)}}],
        "subject": {"identifier": dict(PERSONNUMMER)},
        "content": [{"attachment": {"contentType": "text/plain", "data": "SGVq"}}]})
    assert document.status_code == 201, document.get_json()
    [message_item] = items(client, inbox.shared(ALFA))
    return {
        "Communication": sent.get_json()["id"], "Task": message_item["id"], "ServiceRequest": order.get_json()["id"],
        "DiagnosticReport": report.get_json()["id"], "Provenance": signed.get_json()["id"],
        "DocumentReference": document.get_json()["id"],
    }


def _lars(app):
    return bearer(app, hsa_id=LARS)


def _municipal_client(app):
    return bearer(app, client="kommun-a-system", org=KOMMUN_A, scopes="system/*.cruds")


def _answer(response) -> tuple:
    """What a prober learns from a response: its status and what it says."""
    body = response.get_json() or {}
    return response.status_code, str(body.get("issue", body.get("total", "")))


# --- Critical: conditional create ---------------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", ["Communication", "Task", "ServiceRequest", "DiagnosticReport",
                                           "DocumentReference", "Provenance"])
def test_conditional_create_never_returns_or_reveals_a_resource_the_caller_cannot_see(app, client, hidden, resource_type):
    def probe(criteria):
        return client.post(f"/fhir/{resource_type}", json={"resourceType": resource_type},
                           headers={**FHIR_JSON, **_lars(app), "If-None-Exist": criteria})

    aimed = probe(f"_id={hidden[resource_type]}")
    blank = probe("_id=does-not-exist")
    assert aimed.status_code != 200 and hidden[resource_type] not in aimed.get_data(as_text=True)
    assert _answer(aimed) == _answer(blank)  # exactly as no match


def test_conditional_create_by_patient_is_as_no_match_for_a_foreign_client(app, client, hidden):
    def probe(pnr):
        return client.post("/fhir/DiagnosticReport", json={"resourceType": "DiagnosticReport"},
                           headers={**FHIR_JSON, **_municipal_client(app), "If-None-Exist": f"subject:identifier={pnr}"})

    assert _answer(probe(PNR)) == _answer(probe(OTHER_PNR))
    assert hidden["DiagnosticReport"] not in probe(PNR).get_data(as_text=True)


def test_a_non_revisor_gets_no_audit_event_through_conditional_create(app, client, hidden):
    event = search(client, f"AuditEvent?patient={PNR}", bearer(app, hsa_id=REVISOR))[0]
    response = client.post("/fhir/AuditEvent", json={"resourceType": "AuditEvent"},
                           headers={**FHIR_JSON, **_lars(app), "If-None-Exist": f"_id={event['id']}"})
    assert response.status_code == 405 and event["id"] not in response.get_data(as_text=True)


def test_batch_if_none_exist_matches_only_what_the_caller_sees(app, client, hidden):
    def batch(criteria):
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{
            "resource": {"resourceType": "Communication"},
            "request": {"method": "POST", "url": "Communication", "ifNoneExist": criteria}}]}
        response = client.post("/fhir", json=bundle, headers={**FHIR_JSON, **_lars(app)})
        assert response.status_code == 200
        return response.get_json().get("entry", [])[0]["response"]

    aimed, blank = batch(f"_id={hidden['Communication']}"), batch("_id=nothing-here")
    assert aimed["status"] == blank["status"] and not aimed["status"].startswith("200")
    assert hidden["Communication"] not in str(aimed)


def _ranges(start, end, depth):
    """The time windows a bisecting prober would try."""
    if depth == 0:
        return [(start, end)]
    middle = start + (end - start) / 2
    return [(start, end), *_ranges(start, middle, depth - 1), *_ranges(middle, end, depth - 1)]


def test_a_bisection_over_conditional_create_update_and_paging_recovers_nothing(app, client, hidden):
    """The attack that dumped every Communication in 65 requests: every answer is now the same."""
    now = app.extensions["mc"].clock()
    windows = _ranges(now - timedelta(days=1), now + timedelta(days=1), 4)
    answers = set()
    for low, high in windows:
        criteria = f"_lastUpdated=ge{quote(low.isoformat())}&_lastUpdated=lt{quote(high.isoformat())}"
        created = client.post("/fhir/Communication", json={"resourceType": "Communication"},
                              headers={**FHIR_JSON, **_lars(app), "If-None-Exist": criteria})
        updated = client.put(f"/fhir/DiagnosticReport?{criteria}", json={"resourceType": "DiagnosticReport"},
                             headers={**FHIR_JSON, **_municipal_client(app)})
        paged = client.get(f"/fhir/Communication?{criteria}&_count=1", headers=_lars(app)).get_json()
        answers.add((_answer(created), _answer(updated), len(paged.get("entry", [])),
                     tuple(link["relation"] for link in paged["link"])))
    assert len(windows) == 31 and len(answers) == 1  # 31 windows, one answer: nothing recovered
    ((created, updated, entries, relations),) = answers
    assert created[0] == 400 and updated[0] == 400 and entries == 0 and relations == ("self",)  # the bare body is refused


# --- High: system clients see their own organisation only ----------------------------------------------

def test_a_municipal_client_neither_reads_finds_nor_changes_a_region_result(app, client, hidden):
    headers = _municipal_client(app)
    report_id = hidden["DiagnosticReport"]
    assert client.get(f"/fhir/DiagnosticReport/{report_id}", headers=headers).status_code == 404
    assert client.get(f"/fhir/ServiceRequest/{hidden['ServiceRequest']}", headers=headers).status_code == 404
    assert search(client, f"DiagnosticReport?subject:identifier={PNR}", headers) == []
    assert search(client, f"ServiceRequest?_id={hidden['ServiceRequest']}", headers) == []
    current = client.get(f"/fhir/DiagnosticReport/{report_id}").get_json()
    changed = client.put(f"/fhir/DiagnosticReport/{report_id}", json={**current, "conclusion": "Ändrat."},
                         headers={**FHIR_JSON, **headers})
    assert changed.status_code == 404
    assert client.get(f"/fhir/DiagnosticReport/{report_id}").get_json()["meta"]["versionId"] == current["meta"]["versionId"]


def test_a_result_source_sees_the_results_it_delivered(app, client, hidden):
    lab = bearer(app, client="region-lab", org=ALFA, capabilities=("result-source",))
    assert client.get(f"/fhir/DiagnosticReport/{hidden['DiagnosticReport']}", headers=lab).status_code == 200
    other_lab = bearer(app, client="other-lab", org=KOMMUN_A, capabilities=("result-source",))
    assert client.get(f"/fhir/DiagnosticReport/{hidden['DiagnosticReport']}", headers=other_lab).status_code == 404


# --- High: a reminder gives sight of nothing ------------------------------------------------------------

@pytest.mark.parametrize("resource_type", ["ServiceRequest", "DocumentReference", "DiagnosticReport", "Communication"])
def test_a_reminder_about_a_hidden_resource_is_refused_as_if_it_did_not_exist(app, client, inbox, hidden, resource_type):
    reminder = {"resourceType": "Task", "status": "requested", "intent": "order",
                "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
                "owner": {"reference": inbox.personal(LARS)}, "restriction": {"period": {"end": "2026-12-01"}},
                "focus": {"reference": f"{resource_type}/{hidden[resource_type]}"}}
    response = client.post("/fhir/Task", json=reminder, headers={**FHIR_JSON, **_lars(app)})
    missing = client.post("/fhir/Task", json={**reminder, "focus": {"reference": f"{resource_type}/no-such-id"}},
                          headers={**FHIR_JSON, **_lars(app)})
    assert response.status_code == 422 and "does not exist" in issue(response)["diagnostics"]
    assert _answer(response)[0] == _answer(missing)[0]
    assert client.get(f"/fhir/{resource_type}/{hidden[resource_type]}", headers=_lars(app)).status_code == 404


def test_a_users_own_reminder_never_widens_what_they_see(app, client, inbox, hidden):
    """Sight comes from the item kinds that carry a resource (mappings/item_sight.csv), so even a reminder
    stored by the adapter about an order leaves the order hidden from the reminder's owner."""
    from adapter.auth.visibility import kinds_giving_sight

    assert "reminder" not in kinds_giving_sight("ServiceRequest") + kinds_giving_sight("DocumentReference")
    own = client.post("/fhir/Task", headers=FHIR_JSON, json={  # the operator may point anywhere
        "resourceType": "Task", "status": "requested", "intent": "order", "restriction": {"period": {"end": "2026-12-01"}},
        "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
        "owner": {"reference": inbox.personal(CECILIA)}, "requester": {"reference": inbox.personal(CECILIA)},
        "focus": {"reference": f"ServiceRequest/{hidden['ServiceRequest']}"}})
    assert own.status_code == 201, own.get_json()
    assert client.get(f"/fhir/Task/{own.get_json()['id']}", headers=bearer(app, hsa_id=CECILIA)).status_code == 200
    assert client.get(f"/fhir/ServiceRequest/{hidden['ServiceRequest']}", headers=bearer(app, hsa_id=CECILIA)).status_code == 404


# --- Medium: existence disclosed, writes unchecked --------------------------------------------------------

def test_conditional_update_by_patient_answers_as_if_hidden_results_did_not_exist(app, client, hidden):
    def probe(pnr):
        return client.put(f"/fhir/DiagnosticReport?subject:identifier={pnr}", json={"resourceType": "DiagnosticReport"},
                          headers={**FHIR_JSON, **_lars(app)})

    aimed, blank = probe(PNR), probe(OTHER_PNR)
    assert _answer(aimed) == _answer(blank) and hidden["DiagnosticReport"] not in aimed.get_data(as_text=True)


def test_a_search_never_pages_over_hidden_matches(app, client, inbox, hidden):
    for n in range(3):  # Lars's own messages, after the hidden one
        assert send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(LARS),
                                    identifier=f"own-{n}"), _lars(app)).status_code == 201
    response = client.get("/fhir/Communication?_count=1&_sort=_id", headers=_lars(app)).get_json()
    seen = []
    while True:
        seen += [e["resource"]["id"] for e in response.get("entry", [])]
        assert len(response.get("entry", [])) == 1 or not [link for link in response["link"] if link["relation"] == "next"]
        following = [link["url"] for link in response["link"] if link["relation"] == "next"]
        if not following:
            break
        response = client.get(following[0].replace("https://fhir.example.test", ""), headers=_lars(app)).get_json()
    assert len(seen) == 3 and hidden["Communication"] not in seen


def test_a_reply_to_a_hidden_message_is_refused_as_if_it_did_not_exist(app, client, inbox, hidden):
    reply = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(LARS),
                    inResponseTo=[{"reference": f"Communication/{hidden['Communication']}"}])
    response = send(client, reply, _lars(app))
    assert response.status_code == 422 and "does not exist" in issue(response)["diagnostics"]
    assert items(client, inbox.shared(ALFA)) == items(client, inbox.shared(ALFA))[:1]


def test_put_to_a_new_id_never_creates_a_result_without_routing(app, client, hidden):
    report = client.get(f"/fhir/DiagnosticReport/{hidden['DiagnosticReport']}").get_json()
    fresh = {**{k: v for k, v in report.items() if k != "meta"}, "id": "made-up-id"}
    response = client.put("/fhir/DiagnosticReport/made-up-id", json=fresh, headers=FHIR_JSON)
    assert response.status_code == 404
    hidden_id = client.put(f"/fhir/DiagnosticReport/{hidden['DiagnosticReport']}", json={**fresh, "id": hidden["DiagnosticReport"]},
                           headers={**FHIR_JSON, **_lars(app)})
    assert _answer(hidden_id)[0] == 404
    assert client.get("/fhir/DiagnosticReport/made-up-id").status_code == 404


def test_a_municipal_client_files_nothing_into_a_clinicians_personal_inbox(app, client, inbox):
    headers = {**FHIR_JSON, **_municipal_client(app)}
    document = client.post("/fhir/DocumentReference", headers=headers, json={
        "resourceType": "DocumentReference", "status": "current",
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "document-review"}]}],
        "extension": [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": inbox.personal(JON)}}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "SGVq"}}]})
    assert document.status_code == 403
    assert items(client, inbox.personal(JON)) == []


# --- The 500s --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["Communication?_count=²", "Task?owner={owner}&_count=²", "Practitioner/{pid}/_history?_count=²",
                                  "AuditEvent?patient=" + PNR + "&_count=²", "Communication?_count=٣"])
def test_a_count_of_unicode_digits_is_400(app, client, inbox, path):
    owner, pid = inbox.shared(ALFA), inbox.personal(ANNA).split("/")[1]
    response = client.get("/fhir/" + path.format(owner=owner, pid=pid), headers=bearer(app, hsa_id=REVISOR) if "Audit" in path else {})
    assert response.status_code == 400 and issue(response)["expression"] == ["_count"]


def test_a_message_identifier_longer_than_the_duplicate_key_is_422(app, client, inbox):
    resource = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(LARS))
    resource["identifier"] = [{"system": "urn:x:" + "s" * 300, "value": "1"}]
    response = send(client, resource)
    assert response.status_code == 422 and issue(response)["code"] == "too-long"
    resource["identifier"] = [{"system": "urn:x", "value": "v" * 256}]
    assert send(client, resource).status_code == 422


EDGES = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]


@pytest.mark.parametrize("edge", EDGES)
def test_dates_at_the_edge_of_the_calendar_never_cause_a_500(app, client, inbox, edge):
    owner = inbox.shared(ALFA)
    for query in (f"Communication?_lastUpdated=ge{quote(edge)}", f"Communication?sent=lt{quote(edge)}",
                  f"Task?owner={owner}&due=le{quote(edge)}", f"Task?owner={owner}&_lastUpdated=gt{quote(edge)}"):
        assert client.get(f"/fhir/{query}").status_code == 200, query
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(LARS), sent=edge))
    assert sent.status_code in (201, 400, 422), sent.get_json()
    reminder = client.post("/fhir/Task", headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)}, json={
        "resourceType": "Task", "status": "requested", "intent": "order", "restriction": {"period": {"end": edge}},
        "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
        "owner": {"reference": inbox.personal(ANNA)}})
    assert reminder.status_code in (201, 400, 422), reminder.get_json()
    assert client.get(f"/fhir/Task?owner={inbox.personal(ANNA)}&folder=priority").status_code == 200


# --- Audit gaps -----------------------------------------------------------------------------------------

def _events(app, client, query):
    return search(client, f"AuditEvent?{query}&_count=200", bearer(app, hsa_id=REVISOR))


def test_an_included_resource_is_audited_as_read(app, client, inbox, hidden):
    response = client.get(f"/fhir/DiagnosticReport?_id={hidden['DiagnosticReport']}&_include=DiagnosticReport:based-on",
                          headers=bearer(app, hsa_id=ANNA))
    assert len(response.get_json().get("entry", [])) == 2
    events = _events(app, client, f"entity=ServiceRequest/{hidden['ServiceRequest']}")
    assert any(e["action"] == "E" and e["agent"][0]["who"]["reference"] == inbox.personal(ANNA) for e in events)


def test_a_conditional_create_that_finds_its_match_is_audited_as_a_read(app, client, inbox, hidden):
    communication = client.get(f"/fhir/Communication/{hidden['Communication']}").get_json()
    again = client.post("/fhir/Communication", json={"resourceType": "Communication"},
                        headers={**FHIR_JSON, **bearer(app, hsa_id=CECILIA), "If-None-Exist": f"_id={communication['id']}"})
    assert again.status_code == 200
    events = _events(app, client, f"entity=Communication/{communication['id']}&agent={inbox.personal(CECILIA)}")
    assert [e["action"] for e in events] == ["R"]


def test_every_read_of_the_audit_trail_is_audited(app, client, inbox, hidden):
    revisor = bearer(app, hsa_id=REVISOR)
    first = search(client, f"AuditEvent?patient={PNR}", revisor)
    client.get(f"/fhir/AuditEvent/{first[0]['id']}", headers=revisor)
    revisor_id = search(client, "Practitioner?identifier=urn:oid:1.2.752.29.4.19|" + REVISOR)[0]["id"]
    own = _events(app, client, f"agent=Practitioner/{revisor_id}")
    kinds = [e["subtype"][0]["code"] for e in own]
    assert "search-type" in kinds and "read" in kinds
    searched = next(e for e in own if e["subtype"][0]["code"] == "search-type")
    assert {"system": PERSONNUMMER["system"], "value": PERSONNUMMER["value"]} in [
        ent["what"].get("identifier") for ent in searched["entity"]]


def test_a_refused_request_records_the_entity_and_patient_it_aimed_at(app, client, inbox, hidden):
    client.get(f"/fhir/DiagnosticReport/{hidden['DiagnosticReport']}", headers=_lars(app))
    refused = [e for e in _events(app, client, f"entity=DiagnosticReport/{hidden['DiagnosticReport']}") if e["outcome"] == "4"]
    assert refused
    probe = message(inbox.shared(KOMMUN_A), [inbox.personal(ANNA)], sent_by=inbox.personal(LARS), patient=True, save=True,
                    category="fk-question")
    assert send(client, probe, _lars(app)).status_code >= 400
    extract = [e for e in _events(app, client, f"patient={PNR}") if e["outcome"] == "4"]
    assert any(e["agent"][0]["who"]["reference"] == inbox.personal(LARS) for e in extract)


# --- Sandbox tokens ------------------------------------------------------------------------------------

def test_a_sandbox_client_token_names_a_registered_client_and_carries_its_scopes(app, client, inbox):
    from adapter.auth import tokens
    from adapter.db import utcnow

    key = app.extensions["mc"].key("sandbox_token_key")
    unregistered = tokens.issue_client_token(key=key, client="nobody", scopes="system/*.cruds", now=utcnow(),
                                             lifetime=timedelta(minutes=5))
    assert client.get("/fhir/Organization", headers={"Authorization": f"Bearer {unregistered}"}).status_code == 401
    narrow = bearer(app, client="reader", org=KOMMUN_A, scopes="system/Organization.rs")
    assert client.get("/fhir/Organization", headers=narrow).status_code == 200
    assert client.get(f"/fhir/Task?owner={inbox.shared(KOMMUN_A)}", headers=narrow).status_code == 403
    widened = tokens.issue_client_token(key=key, client="reader", scopes="system/*.cruds", now=utcnow(),
                                        lifetime=timedelta(minutes=5))
    assert client.get(f"/fhir/Task?owner={inbox.shared(KOMMUN_A)}",
                      headers={"Authorization": f"Bearer {widened}"}).status_code == 403  # registration caps the token


def test_a_disabled_clients_sandbox_token_stops_at_once(app, client, inbox):
    from adapter.auth.backend_services import set_client_active

    headers = bearer(app, client="soon-disabled", org=KOMMUN_A)
    assert client.get("/fhir/Organization", headers=headers).status_code == 200
    with app.extensions["mc"].sessions.begin() as session:
        set_client_active(session, client_id="soon-disabled", active=False)
    assert client.get("/fhir/Organization", headers=headers).status_code == 401


def test_sandbox_tokens_live_five_minutes_unless_asked_for_longer():
    from click.testing import CliRunner

    from adapter.cli import token

    option = next(p for p in token.params if p.name == "minutes")
    assert option.default == 5
    assert CliRunner().invoke(token, ["--client", "x", "--as", "y"]).exit_code != 0
