"""The FHIR server conventions generic clients rely on (issue #16), one per test."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import FHIR
from tests.helpers import FHIR_JSON, bearer, created, function_inbox, organization, post, practitioner, role
from tests.integration.messaging_helpers import ALFA, ANNA, JON, KOMMUN_A, MARIA, items, message, send


def _matches(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _included(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "include"]


def test_smart_discovery_is_served_under_the_fhir_base_without_a_token(app):
    response = app.test_client().get("/fhir/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.get_json()["token_endpoint"] == "https://fhir.example.test/auth/token"
    assert app.test_client().get("/fhir/metadata").get_json()["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_an_empty_search_has_no_entry_array_and_a_total_of_zero(client):
    response = client.get("/fhir/Organization?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-E999999999999")
    body = response.get_json()
    assert "entry" not in body and body["total"] == 0


def test_a_resource_both_matched_and_included_appears_once(client):
    parent = created(client, "Organization", organization("SE2321000131-E000000000601", kind="verksamhet"))
    child = created(client, "Organization", organization("SE2321000131-E000000000602",
                                                         partOf={"reference": f"Organization/{parent['id']}"}))
    body = client.get(f"/fhir/Organization?_id={parent['id']},{child['id']}&_include=Organization:partof").get_json()
    full_urls = [e["fullUrl"] for e in body["entry"]]
    assert len(full_urls) == len(set(full_urls)) == 2


def test_summary_count_count_zero_and_total_accurate_give_the_total(client):
    for n in range(3):
        created(client, "Organization", organization(f"SE2321000131-E00000000061{n}", name="Räknad"))
    wanted = "identifier=urn:oid:1.2.752.29.4.19|SE2321000131-E000000000610,SE2321000131-E000000000611,SE2321000131-E000000000612"
    counted = client.get(f"/fhir/Organization?{wanted}&_summary=count").get_json()
    assert counted["total"] == 3 and "entry" not in counted
    assert client.get(f"/fhir/Organization?{wanted}&_count=0").get_json()["total"] == 3
    paged = client.get(f"/fhir/Organization?{wanted}&_count=2&_total=accurate").get_json()
    assert paged["total"] == 3 and len(_matches(paged)) == 2
    assert "total" not in client.get(f"/fhir/Organization?{wanted}&_count=2").get_json()  # not free: not counted


def test_page_two_names_its_cursor_in_self(client):
    for n in range(3):
        created(client, "Organization", organization(f"SE2321000131-E00000000062{n}"))
    first = client.get("/fhir/Organization?_count=2").get_json()
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(next_url.removeprefix("https://fhir.example.test")).get_json()
    own = next(link["url"] for link in second["link"] if link["relation"] == "self")
    assert parse_qs(urlparse(own).query)["_cursor"] == parse_qs(urlparse(next_url).query)["_cursor"]


def test_post_search_takes_form_parameters_like_get(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000630"))
    response = client.post("/fhir/Organization/_search", data={"identifier": "urn:oid:1.2.752.29.4.19|SE2321000131-E000000000630"},
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert [r["id"] for r in _matches(response.get_json())] == [org["id"]]
    assert client.post("/fhir/Organization/_search", json={}).status_code == 415


def test_a_405_says_what_is_allowed(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000640"))
    response = client.delete(f"/fhir/Organization/{org['id']}")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "PUT"}
    refused = client.post("/fhir/AuditEvent", json={"resourceType": "AuditEvent"}, headers=FHIR_JSON)
    assert refused.status_code == 405 and "POST" in refused.headers["Allow"] and "GET" in refused.headers["Allow"]


@pytest.mark.parametrize("path, headers", [
    ("/fhir/Organization?_format=xml", {}),
    ("/fhir/Organization?_format=application/fhir%2Bxml", {}),
    ("/fhir/Organization", {"Accept": "application/fhir+xml"}),
    ("/fhir/metadata", {"Accept": "application/xml"}),
])
def test_formats_not_served_are_406_consistently(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 406
    assert response.get_json()["issue"][0]["code"] == "not-supported"


def test_a_read_asking_for_xml_is_406_and_json_names_are_served(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000650"))
    assert client.get(f"/fhir/Organization/{org['id']}?_format=xml").status_code == 406
    for accepted in ("application/fhir+json", "application/json", "application/json+fhir", "*/*",
                     "application/fhir+xml;q=0.9, application/fhir+json"):
        assert client.get(f"/fhir/Organization/{org['id']}", headers={"Accept": accepted}).status_code == 200
    assert client.get(f"/fhir/Organization/{org['id']}?_format=application/fhir%2Bjson").status_code == 200


def test_prefer_return_minimal_answers_no_body_and_no_content_type(client):
    response = post(client, "Organization", organization("SE2321000131-E000000000660"), {"Prefer": "return=minimal"})
    assert response.status_code == 201 and response.data == b""
    assert "Content-Type" not in response.headers and response.headers["Location"]
    outcome = post(client, "Organization", organization("SE2321000131-E000000000661"), {"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201 and outcome.get_json()["resourceType"] == "OperationOutcome"
    assert outcome.headers["Content-Type"].startswith("application/fhir+json")


def test_a_conditional_read_of_an_unchanged_resource_is_304(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000670"))
    response = client.get(f"/fhir/Organization/{org['id']}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304 and response.data == b"" and response.headers["ETag"] == 'W/"1"'
    assert client.get(f"/fhir/Organization/{org['id']}", headers={"If-None-Match": 'W/"0"'}).status_code == 200
    since = client.get(f"/fhir/Organization/{org['id']}").headers["Last-Modified"]
    assert client.get(f"/fhir/Organization/{org['id']}", headers={"If-Modified-Since": since}).status_code == 304


def test_the_history_of_a_whole_type_is_a_clear_not_supported(client):
    response = client.get("/fhir/Task/_history")
    assert response.status_code == 405 and "Task/<id>/_history" in response.get_json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/_history").status_code == 405


def test_a_chained_search_is_refused_with_what_to_do_instead(client):
    response = client.get("/fhir/PractitionerRole?practitioner:Practitioner.family=Testsson")
    assert response.status_code == 400
    assert "chained search" in response.get_json()["issue"][0]["diagnostics"]


def test_an_include_may_use_the_element_name_and_unknown_includes_are_reported_when_lenient(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000680"))
    service = created(client, "HealthcareService", function_inbox(org["id"]))
    body = client.get(f"/fhir/HealthcareService?_id={service['id']}&_include=HealthcareService:providedBy").get_json()
    assert [r["id"] for r in _included(body)] == [org["id"]]
    lenient = client.get(f"/fhir/HealthcareService?_id={service['id']}&_include=HealthcareService:nothing").get_json()
    assert _matches(lenient) and "HealthcareService:nothing" in lenient["entry"][-1]["resource"]["issue"][0]["diagnostics"]
    strict = client.get(f"/fhir/HealthcareService?_id={service['id']}&_include=HealthcareService:nothing",
                        headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    star = client.get(f"/fhir/HealthcareService?_id={service['id']}&_include=*").get_json()
    assert org["id"] in [r["id"] for r in _included(star)]


def test_the_task_poll_includes_owner_and_focus_and_keeps_visibility(app, client, inbox):
    send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA)))
    owner = inbox.shared(ALFA)
    body = client.get(f"/fhir/Task?owner={owner}&_include=Task:owner&_include=Task:focus",
                      headers=bearer(app, hsa_id=ANNA)).get_json()
    included = {f"{r['resourceType']}/{r['id']}" for r in _included(body)}
    assert owner in included and any(ref.startswith("Communication/") for ref in included)
    assert body["total"] == len(_matches(body)) >= 1
    hidden = client.get(f"/fhir/Task?owner={owner}&_include=Task:owner&_include=Task:focus",
                        headers=bearer(app, hsa_id=JON)).get_json()
    assert "entry" not in hidden and hidden["total"] == 0
    counted = client.get(f"/fhir/Task?owner={owner}&_summary=count", headers=bearer(app, hsa_id=ANNA)).get_json()
    assert counted["total"] == len(items(client, owner)) and "entry" not in counted


def test_the_428_names_the_header_to_send(app, client, inbox):
    send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA)))
    task = items(client, inbox.shared(ALFA))[0]
    response = client.put(f"/fhir/Task/{task['id']}", json=task, headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert response.status_code == 428
    found = response.get_json()["issue"][0]
    assert 'If-Match: W/"' in found["diagnostics"] and found["expression"] == ["If-Match"]


def test_operation_definitions_named_in_the_capability_statement_are_served(client):
    statement = client.get("/fhir/metadata").get_json()
    urls = {op["definition"] for r in statement["rest"][0]["resource"] for op in r.get("operation", [])
            if op["definition"].startswith(FHIR)}
    assert f"{FHIR}/OperationDefinition/Task-sign" in urls
    for url in urls:
        response = client.get(url.removeprefix("https://fhir.example.test"))
        assert response.status_code == 200, url
        assert response.get_json()["url"] == url


def test_profiles_value_sets_code_systems_and_search_parameters_are_served(client):
    profile = client.get("/fhir/StructureDefinition/mc-communication").get_json()
    assert profile["type"] == "Communication" and profile["derivation"] == "constraint"
    found = client.get(f"/fhir/StructureDefinition?url={profile['url']}").get_json()
    assert [r["id"] for r in _matches(found)] == ["mc-communication"] and found["total"] == 1
    for path in ("CodeSystem/message-category", "ValueSet/message-category", "SearchParameter/Task-folder"):
        assert client.get(f"/fhir/{path}").status_code == 200, path
    assert client.get("/fhir/ValueSet/nothing").status_code == 404


def test_what_is_served_names_its_profile(client, inbox):
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))).get_json()
    assert sent["meta"]["profile"] == ["https://meddelandecenter-adapter.github.io/fhir/StructureDefinition/mc-communication"]
    org = created(client, "Organization", organization("SE2321000131-E000000000690"))
    assert org["meta"]["profile"][0].endswith("/mc-unit")


def test_a_resource_departing_from_its_profile_is_422_naming_the_element(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000700"))
    practitioner_id = created(client, "Practitioner", practitioner("SE2321000131-P000000000700"))["id"]
    bad = role(practitioner_id, org["id"], "lakare")
    bad["code"][0]["coding"].append({"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/role", "code": "skoterska"})
    response = post(client, "PractitionerRole", bad)
    assert response.status_code == 422
    assert "mc-pr-1" in response.get_json()["issue"][0]["diagnostics"]


def test_validate_reports_every_issue_and_stores_nothing(client, inbox):
    bad = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))
    bad["status"] = "preparation"
    bad["identifier"] = [{"value": "no-system"}]
    response = client.post("/fhir/Communication/$validate", json=bad, headers=FHIR_JSON)
    assert response.status_code == 200
    diagnostics = " ".join(i["diagnostics"] for i in response.get_json()["issue"])
    assert "mc-com-1" in diagnostics and "completed" in diagnostics
    good = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": good}]}
    answer = client.post("/fhir/Communication/$validate", json=wrapped, headers=FHIR_JSON).get_json()
    assert answer["issue"][0]["severity"] == "information"
    assert items(client, inbox.shared(ALFA)) == []


def test_a_configured_base_ending_in_fhir_is_not_doubled(config):
    configured = config.with_overrides(public_base_url="https://hub.example.test/fhir", public_base_url_configured=True)
    assert configured.fhir_base_url == "https://hub.example.test/fhir"
    assert configured.server_base_url == "https://hub.example.test"
    assert configured.bound_to("0.0.0.0", 18480).fhir_base_url == "https://hub.example.test/fhir"


def test_links_follow_the_bound_port_when_no_base_is_configured(config):
    bound = config.with_overrides(public_base_url_configured=False).bound_to("0.0.0.0", 18480)
    assert bound.fhir_base_url == "http://127.0.0.1:18480/fhir"
    assert bound.bound_to  # the default follows `serve --port`; `MC_PUBLIC_BASE_URL` wins when set
