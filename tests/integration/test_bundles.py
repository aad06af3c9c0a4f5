"""Transaction (all or nothing) and batch (each entry alone) Bundles."""

from tests.helpers import issue, organization, practitioner, search


def _transaction(*entries, kind="transaction"):
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _post_entry(resource, full_url=None, if_none_exist=None):
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    if if_none_exist:
        entry["request"]["ifNoneExist"] = if_none_exist
    return entry


def _role_entry(practitioner_url, organization_url):
    return _post_entry({
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": practitioner_url},
        "organization": {"reference": organization_url},
        "code": [{"coding": [{"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/role", "code": "lakare"}]}],
    })


def _send(client, bundle):
    return client.post("/fhir", json=bundle, headers={"Content-Type": "application/fhir+json"})


def test_a_transaction_resolves_urn_uuid_references(client):
    bundle = _transaction(
        _role_entry("urn:uuid:11111111-1111-1111-1111-111111111111", "urn:uuid:22222222-2222-2222-2222-222222222222"),
        _post_entry(practitioner("SE2321000131-P000000000100"), "urn:uuid:11111111-1111-1111-1111-111111111111"),
        _post_entry(organization("SE2321000131-E000000000100"), "urn:uuid:22222222-2222-2222-2222-222222222222"),
    )
    response = _send(client, bundle)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 3
    stored_role = result["entry"][0]["resource"]
    assert stored_role["practitioner"]["reference"] == f"Practitioner/{result['entry'][1]['resource']['id']}"


def test_a_transaction_with_one_bad_entry_stores_nothing(client):
    bundle = _transaction(
        _post_entry(organization("SE2321000131-E000000000101")),
        _post_entry(practitioner("SE2321000131-P000000000101")),
        _post_entry({**practitioner("SE2321000131-P000000000102"), "gender": "sometimes"}),
    )
    response = _send(client, bundle)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Bundle.entry[2].resource.gender"]
    assert search(client, "Organization") == [] and search(client, "Practitioner") == []
    assert search(client, "HealthcareService") == []  # the unit's inboxes were rolled back too


def test_if_none_exist_in_a_transaction_reuses_the_match(client):
    entry = _post_entry(practitioner("SE2321000131-P000000000103"), "urn:uuid:33333333-3333-3333-3333-333333333333",
                        "identifier=urn:oid:1.2.752.29.4.19|SE2321000131-P000000000103")
    first = _send(client, _transaction(entry)).get_json()
    second = _send(client, _transaction(entry)).get_json()
    assert first["entry"][0]["response"]["status"] == "201 Created"
    assert second["entry"][0]["response"]["status"] == "200 OK"
    assert len(search(client, "Practitioner")) == 1


def test_a_batch_reports_each_entry_on_its_own(client):
    bundle = _transaction(
        _post_entry(practitioner("SE2321000131-P000000000104")),
        _post_entry({**practitioner("SE2321000131-P000000000105"), "gender": "sometimes"}),
        kind="batch",
    )
    response = _send(client, bundle)
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.get_json().get("entry", [])]
    assert statuses == ["201 Created", "422 Unprocessable Entity"]
    assert len(search(client, "Practitioner")) == 1


def test_other_bundle_types_are_refused(client):
    response = _send(client, _transaction(kind="collection"))
    assert response.status_code == 400


def test_an_entry_without_a_request_is_a_400(client):
    response = _send(client, {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": practitioner("SE2321000131-P000000000106")}]})
    assert response.status_code == 400 and issue(response)["expression"] == ["Bundle.entry[0].request"]
