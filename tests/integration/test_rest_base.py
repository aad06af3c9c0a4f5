"""The FHIR REST base over HTTP (Flask test client): CRUD, versions, conditional create, search."""

from tests.conftest import FHIR
from tests.helpers import created, issue, organization, post, practitioner, put, role, search


def test_create_returns_201_with_location_etag_and_the_stored_resource(client):
    response = post(client, "Organization", organization("SE2321000131-E000000000001"))
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"{FHIR}/Organization/{body['id']}/_history/1"
    assert body["meta"]["versionId"] == "1"
    assert client.get(f"/fhir/Organization/{body['id']}").get_json() == body


def test_the_rivta_hsa_system_is_accepted_and_emitted_in_the_hl7_sweden_form(client):
    resource = organization("se2321000131-e000000000002")
    resource["identifier"][0]["system"] = "urn:oid:1.2.752.129.2.1.4.1"
    body = created(client, "Organization", resource)
    assert body["identifier"] == [{"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000131-E000000000002"}]


def test_update_with_a_stale_if_match_is_412_and_changes_nothing(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000003"))
    org["name"] = "Nytt namn"
    assert put(client, f"Organization/{org['id']}", org, {"If-Match": 'W/"1"'}).status_code == 200
    org["name"] = "Ett annat namn"
    stale = put(client, f"Organization/{org['id']}", org, {"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert client.get(f"/fhir/Organization/{org['id']}").get_json()["name"] == "Nytt namn"


def test_vread_and_history_show_every_version(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000004"))
    org["name"] = "Version två"
    put(client, f"Organization/{org['id']}", org)
    history = client.get(f"/fhir/Organization/{org['id']}/_history").get_json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert client.get(f"/fhir/Organization/{org['id']}/_history/1").get_json()["name"] == "Testenhet"
    assert client.get(f"/fhir/Organization/{org['id']}/_history/9").status_code == 404


def test_an_update_that_changes_nothing_makes_no_new_version(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000005"))
    again = put(client, f"Organization/{org['id']}", org)
    assert again.status_code == 200 and again.headers["ETag"] == 'W/"1"'


def test_put_with_a_new_client_id_creates(client):
    resource = {**practitioner("SE2321000131-P000000000001"), "id": "anna-1"}
    response = put(client, "Practitioner/anna-1", resource)
    assert response.status_code == 201


def test_conditional_create_creates_returns_the_match_or_refuses_ambiguity(client):
    resource = practitioner("SE2321000131-P000000000002")
    criteria = {"If-None-Exist": "identifier=urn:oid:1.2.752.29.4.19|SE2321000131-P000000000002"}
    first = post(client, "Practitioner", resource, criteria)
    second = post(client, "Practitioner", resource, criteria)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    created(client, "Practitioner", {**practitioner("SE2321000131-P000000000003"), "active": True})
    ambiguous = post(client, "Practitioner", practitioner("SE2321000131-P000000000004"), {"If-None-Exist": "active=true"})
    assert ambiguous.status_code == 200  # one active practitioner so far: the match is returned
    created(client, "Practitioner", {**practitioner("SE2321000131-P000000000005"), "active": True})
    assert post(client, "Practitioner", practitioner("SE2321000131-P000000000006"), {"If-None-Exist": "active=true"}).status_code == 412


def test_conditional_update_by_identifier(client):
    resource = practitioner("SE2321000131-P000000000007")
    query = "Practitioner?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-P000000000007"
    assert put(client, query, resource).status_code == 201
    resource["active"] = False
    response = put(client, query, resource)
    assert response.status_code == 200 and response.get_json()["meta"]["versionId"] == "2"


def test_search_by_reference_role_and_include(client):
    org = created(client, "Organization", organization("SE2321000131-E000000000010"))
    anna = created(client, "Practitioner", practitioner("SE2321000131-P000000000010"))
    bo = created(client, "Practitioner", practitioner("SE2321000131-P000000000011"))
    created(client, "PractitionerRole", role(anna["id"], org["id"], "lakare"))
    created(client, "PractitionerRole", role(bo["id"], org["id"], "sjukskoterska"))
    response = client.get(f"/fhir/PractitionerRole?organization=Organization/{org['id']}&role=lakare&_include=PractitionerRole:practitioner")
    entries = response.get_json().get("entry", [])
    assert [(e["resource"]["resourceType"], e["search"]["mode"]) for e in entries] == [("PractitionerRole", "match"), ("Practitioner", "include")]
    assert entries[1]["resource"]["id"] == anna["id"]


def test_paging_follows_next_links_built_from_the_public_base_url_and_stops(client):
    for n in range(5):
        created(client, "Practitioner", practitioner(f"SE2321000131-P00000000002{n}"))
    seen, url, pages = [], "/fhir/Practitioner?_count=2&_sort=_id", 0
    while url:
        bundle = client.get(url).get_json()
        pages += 1
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        assert all(u.startswith(FHIR) for u in following)
        url = following[0].removeprefix("https://fhir.example.test") if following else None
    assert pages == 3 and seen == sorted(seen) and len(set(seen)) == 5


def test_last_updated_search_uses_the_stored_instant(client, app, clock):
    app.extensions["mc"].clock = clock
    created(client, "Practitioner", practitioner("SE2321000131-P000000000030"))
    assert len(search(client, "Practitioner?_lastUpdated=2026-11-24")) == 1
    assert search(client, "Practitioner?_lastUpdated=gt2026-11-24") == []
    assert len(search(client, "Practitioner?_lastUpdated=ge2026-11-24T09:00:00Z")) == 1


def test_unknown_search_parameters_are_reported_or_refused_under_strict_handling(client):
    lenient = client.get("/fhir/Practitioner?colour=blue").get_json()
    assert lenient["entry"][-1]["search"]["mode"] == "outcome"
    assert "colour" not in lenient["link"][0]["url"]
    strict = client.get("/fhir/Practitioner?colour=blue", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400 and issue(strict)["expression"] == ["colour"]


def test_metadata_is_generated_from_the_registry(client):
    statement = client.get("/fhir/metadata").get_json()
    assert statement["fhirVersion"] == "4.0.1"
    assert {r["type"] for r in statement["rest"][0]["resource"]} == {
        "Organization", "Practitioner", "PractitionerRole", "HealthcareService", "Endpoint", "Communication", "Task", "AuditEvent",
        "ServiceRequest", "MedicationRequest", "DiagnosticReport", "Provenance", "DocumentReference",
        "StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter", "OperationDefinition", "Subscription", "Basic"}


def test_prefer_return_minimal_sends_no_body(client):
    response = post(client, "Practitioner", practitioner("SE2321000131-P000000000040"), {"Prefer": "return=minimal"})
    assert response.status_code == 201 and response.data == b"" and "Location" in response.headers


def test_json_content_type_is_accepted_too(client):
    response = client.post("/fhir/Practitioner", json=practitioner("SE2321000131-P000000000041"))
    assert response.status_code == 201 and response.content_type.startswith("application/fhir+json")
