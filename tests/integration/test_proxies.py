"""Proxies (ombud, MC-R39 to MC-R46) through the admin API, and what a proxy sees and signs."""

from datetime import timedelta


from tests.helpers import FHIR_JSON, bearer, rule_of, search
from tests.integration.messaging_helpers import ALFA, ANNA, CECILIA, GAMMA, JON, items
from tests.integration.test_results import _order, _report

HANS = "SE2321000131-P000000001008"  # enhetschef, Alfa
GRETA = "SE2321000131-P000000001007"  # medicinsk sekreterare, Alfa
INGRID = "SE2321000131-P000000001009"  # verksamhetschef of the verksamhet above Alfa
BERTIL = "SE2321000131-P000000001002"
DORIS = "SE2321000131-P000000001011"  # läkare at Beta: the same operation (Verksamhet Medicin) as Anna and Cecilia




def _id(reference: str) -> str:
    return reference.split("/", 1)[1]


def _grant(app, client, inbox, grantor, principal, proxy, decided_by=HANS, days=14, start_offset=-1, **extra):
    now = app.extensions["mc"].clock()
    body = {"principal": _id(inbox.personal(principal)), "proxy": _id(inbox.personal(proxy)),
            "start": (now + timedelta(days=start_offset)).isoformat(), "end": (now + timedelta(days=days)).isoformat(),
            "decided_by": _id(inbox.personal(decided_by)), **extra}
    return client.post("/admin/proxies", json=body, headers=bearer(app, hsa_id=grantor))


def _result_for(client, inbox, person):
    order = client.post("/fhir/ServiceRequest", json=_order(inbox.personal(person)), headers=FHIR_JSON).get_json()
    client.post("/fhir/DiagnosticReport", json=_report(f"ServiceRequest/{order['id']}"), headers=FHIR_JSON)
    return [t for t in items(client, inbox.personal(person)) if t["code"]["coding"][0]["code"] == "result"][0]


def test_a_unit_manager_grants_and_the_proxy_handles_and_signs_the_principals_items_mc_r45(app, client, inbox, fixed_clock):
    granted = _grant(app, client, inbox, HANS, ANNA, DORIS)
    assert granted.status_code == 201, granted.get_json()
    item = _result_for(client, inbox, ANNA)
    as_proxy = bearer(app, hsa_id=DORIS)
    assert [t["id"] for t in search(client, f"Task?owner={inbox.personal(ANNA)}", as_proxy)] == [item["id"]]
    signed = client.post(f"/fhir/Task/{item['id']}/$sign", json={"resourceType": "Parameters"}, headers={**FHIR_JSON, **as_proxy})
    assert signed.status_code == 200
    agent = signed.get_json()["agent"][0]
    assert agent["who"] == {"reference": inbox.personal(DORIS)} and agent["onBehalfOf"] == {"reference": inbox.personal(ANNA)}
    # The audit trail names the proxy as the one acting, on Anna's behalf.
    extract = client.get(f"/fhir/AuditEvent?agent={inbox.personal(ANNA)}&_count=50",
                         headers=bearer(app, hsa_id="SE2321000131-P000000009002")).get_json().get("entry", [])
    acting = [[a["who"]["reference"] for a in e["resource"]["agent"]] for e in extract]
    assert [inbox.personal(DORIS), inbox.personal(ANNA)] in acting


def test_outside_the_period_the_principals_items_are_invisible_to_the_proxy(app, client, inbox, fixed_clock):
    _grant(app, client, inbox, HANS, ANNA, DORIS, days=2)
    item = _result_for(client, inbox, ANNA)
    as_proxy = bearer(app, hsa_id=DORIS)
    assert client.get(f"/fhir/Task/{item['id']}", headers=as_proxy).status_code == 200
    fixed_clock.now += timedelta(days=3)  # expiry is enforced at access, never by a job
    assert client.get(f"/fhir/Task/{item['id']}", headers=as_proxy).status_code == 404
    assert search(client, f"Task?owner={inbox.personal(ANNA)}", as_proxy) == []


def test_a_proxy_is_appointed_in_one_step_only_mc_r44(app, client, inbox, fixed_clock):
    _grant(app, client, inbox, HANS, ANNA, BERTIL)
    assert _grant(app, client, inbox, HANS, BERTIL, CECILIA).status_code == 201
    item = _result_for(client, inbox, ANNA)
    assert client.get(f"/fhir/Task/{item['id']}", headers=bearer(app, hsa_id=CECILIA)).status_code == 404


def test_nobody_grants_on_their_own_inbox_mc_r40(app, client, inbox, fixed_clock):
    response = _grant(app, client, inbox, HANS, HANS, DORIS)
    assert response.status_code == 422 and rule_of(response) == "MC-R40"


def test_only_the_units_administrators_grant_mc_r40(app, client, inbox, fixed_clock):
    assert _grant(app, client, inbox, CECILIA, ANNA, DORIS).status_code == 403
    assert _grant(app, client, inbox, GRETA, ANNA, DORIS).status_code == 201  # a medicinsk sekreterare of the unit


def test_a_verksamhetschef_above_the_unit_may_grant_mc_r40(app, client, inbox, fixed_clock):
    assert _grant(app, client, inbox, INGRID, ANNA, DORIS, decided_by=INGRID).status_code == 201


def test_the_period_is_decided_by_a_chef_mc_r42(app, client, inbox, fixed_clock):
    response = _grant(app, client, inbox, GRETA, ANNA, DORIS, decided_by=GRETA)
    assert response.status_code == 422 and rule_of(response) == "MC-R42"
    assert rule_of(_grant(app, client, inbox, HANS, ANNA, DORIS, days=-2)) == "MC-R41"  # end before start


def test_a_principal_in_several_operations_needs_an_acknowledged_grant_mc_r41(app, client, inbox, fixed_clock):
    gamma = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{GAMMA}")[0]
    role = {"resourceType": "PractitionerRole", "practitioner": {"reference": inbox.personal(ANNA)},
            "organization": {"reference": f"Organization/{gamma['id']}"},
            "code": [{"coding": [{"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/role", "code": "lakare"}]}]}
    assert client.post("/fhir/PractitionerRole", json=role, headers=FHIR_JSON).status_code == 201
    refused = _grant(app, client, inbox, HANS, ANNA, DORIS)
    assert refused.status_code == 422 and rule_of(refused) == "MC-R41"
    assert _grant(app, client, inbox, HANS, ANNA, DORIS, acknowledge_multiple_operations=True).status_code == 201


def test_several_proxies_per_user_and_a_warning_for_a_single_one_mc_r43_mc_r44(app, client, inbox, fixed_clock):
    _grant(app, client, inbox, HANS, ANNA, DORIS)
    alfa = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{ALFA}")[0]
    listed = client.get(f"/admin/proxies?unit={alfa['id']}", headers=bearer(app, hsa_id=GRETA)).get_json()
    assert [(g["proxy"], g["principal_has_single_proxy"]) for g in listed] == [(inbox.personal(DORIS), True)]
    _grant(app, client, inbox, HANS, ANNA, BERTIL)
    listed = client.get(f"/admin/proxies?unit={alfa['id']}", headers=bearer(app, hsa_id=GRETA)).get_json()
    assert {g["principal_has_single_proxy"] for g in listed} == {False}
    assert client.get(f"/admin/proxies?unit={alfa['id']}", headers=bearer(app, hsa_id=CECILIA)).status_code == 403


def test_a_revoked_grant_stops_at_once(app, client, inbox, fixed_clock):
    grant = _grant(app, client, inbox, HANS, ANNA, DORIS).get_json()
    item = _result_for(client, inbox, ANNA)
    assert client.delete(f"/admin/proxies/{grant['id']}", headers=bearer(app, hsa_id=HANS)).status_code == 204
    assert client.get(f"/fhir/Task/{item['id']}", headers=bearer(app, hsa_id=DORIS)).status_code == 404


def test_bad_grant_bodies_are_422_with_the_field(app, client, inbox):
    response = client.post("/admin/proxies", json={"principal": "x"}, headers=bearer(app, hsa_id=HANS))
    assert response.status_code == 422
    assert "json.proxy" in {e for i in response.get_json()["issue"] for e in i.get("expression", [])}


def test_the_admin_api_is_described_by_openapi(client):
    spec = client.get("/admin/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/admin/proxies" in spec["paths"]


def test_proxy_and_principal_belong_to_the_same_operation_mc_r40(app, client, inbox, fixed_clock):
    from tests.integration.messaging_helpers import LARS

    municipal = _grant(app, client, inbox, HANS, CECILIA, LARS)  # a municipal nurse for a region nurse (MC-R7 too)
    assert municipal.status_code == 422 and rule_of(municipal) == "MC-R40"
    other_operation = _grant(app, client, inbox, HANS, CECILIA, JON)  # Gamma is not under Verksamhet Medicin
    assert other_operation.status_code == 422 and rule_of(other_operation) == "MC-R40"
    assert _grant(app, client, inbox, HANS, CECILIA, BERTIL).status_code == 201
