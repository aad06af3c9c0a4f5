"""The directory: unit inboxes (MC-R29), lifecycle (MC-R31), function inboxes (MC-R30, MC-R32)."""

import json

from adapter.identifiers import INBOX_ID
from tests.helpers import created, function_inbox, issue, organization, post, practitioner, put, role, rule_of, search


def _inboxes(client, org_id, active=None):
    query = f"HealthcareService?organization=Organization/{org_id}" + (f"&active={active}" if active is not None else "")
    return sorted(i["identifier"][0]["value"] for i in search(client, query))


def test_creating_a_unit_creates_its_two_inboxes_with_pinned_identifiers_mc_r29(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000300"))
    assert _inboxes(client, unit["id"]) == ["SE2321000131-E000000000300#meddelande", "SE2321000131-E000000000300#samverkan"]


def test_inboxes_are_created_exactly_once_per_unit_and_kind_mc_r29(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000301"))
    unit["name"] = "Omdöpt"
    put(client, f"Organization/{unit['id']}", unit)
    unit["active"] = False
    put(client, f"Organization/{unit['id']}", unit)
    unit["active"] = True
    put(client, f"Organization/{unit['id']}", unit)
    assert len(_inboxes(client, unit["id"])) == 2
    assert len(_inboxes(client, unit["id"], active="true")) == 2


def test_a_school_gets_only_a_samverkan_inbox_and_a_verksamhet_none_mc_r3(client):
    school = created(client, "Organization", organization("SE2120000001-E000000000302", "school"))
    verksamhet = created(client, "Organization", organization("SE2321000131-S000000000303", "verksamhet"))
    assert _inboxes(client, school["id"]) == ["SE2120000001-E000000000302#samverkan"]
    assert _inboxes(client, verksamhet["id"]) == []


def test_closing_a_unit_deactivates_its_inboxes_mc_r31(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000304"))
    created(client, "HealthcareService", function_inbox(unit["id"]))
    unit["active"] = False
    assert put(client, f"Organization/{unit['id']}", unit).status_code == 200
    assert len(_inboxes(client, unit["id"], active="false")) == 3
    assert _inboxes(client, unit["id"], active="true") == []


def test_an_organisation_bound_inbox_cannot_be_created_by_hand_mc_r29(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000305"))
    inbox = function_inbox(unit["id"])
    inbox["type"][0]["coding"][0]["code"] = "unit-samverkan"
    response = post(client, "HealthcareService", inbox)
    assert response.status_code == 422 and rule_of(response) == "MC-R29"
    assert issue(response)["details"]["text"] and issue(response)["diagnostics"]


def test_an_organisation_bound_inbox_cannot_be_closed_on_its_own_mc_r31(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000306"))
    inbox = search(client, f"HealthcareService?organization={unit['id']}&service-type=unit-meddelande")[0]
    inbox["active"] = False
    response = put(client, f"HealthcareService/{inbox['id']}", inbox)
    assert response.status_code == 422 and rule_of(response) == "MC-R31"


def test_a_function_inbox_gets_an_identifier_under_its_units_hsa_id_mc_r30(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000307"))
    inbox = created(client, "HealthcareService", function_inbox(unit["id"]))
    assert inbox["identifier"][0]["system"] == INBOX_ID
    assert inbox["identifier"][0]["value"].startswith("SE2321000131-E000000000307#function-")


def test_a_function_inbox_identifier_must_belong_to_its_unit(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000308"))
    response = post(client, "HealthcareService", function_inbox(unit["id"], "SE2321000131-E000000000999#konsult"))
    assert response.status_code == 422


def test_no_inbox_can_be_added_to_a_closed_unit_mc_r31(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000309", active=False))
    response = post(client, "HealthcareService", function_inbox(unit["id"]))
    assert response.status_code == 422 and rule_of(response) == "MC-R31"


def test_one_personal_inbox_per_user_hsa_ids_are_unique_mc_r12(client):
    created(client, "Practitioner", practitioner("SE2321000131-P000000000300"))
    response = post(client, "Practitioner", practitioner("se2321000131-p000000000300"))
    assert response.status_code == 409


def test_an_hsa_id_cannot_change(client):
    person = created(client, "Practitioner", practitioner("SE2321000131-P000000000301"))
    person["identifier"][0]["value"] = "SE2321000131-P000000000302"
    assert put(client, f"Practitioner/{person['id']}", person).status_code == 422


def test_part_of_must_be_a_verksamhet(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000310"))
    response = post(client, "Organization", organization("SE2321000131-E000000000311", partOf={"reference": f"Organization/{unit['id']}"}))
    assert response.status_code == 422 and issue(response)["expression"] == ["Organization.partOf"]


def test_a_role_needs_one_pinned_role_code(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000312"))
    person = created(client, "Practitioner", practitioner("SE2321000131-P000000000303"))
    assert post(client, "PractitionerRole", role(person["id"], unit["id"], "astronaut")).status_code == 422


def test_membership_refers_to_inboxes_by_their_pinned_identifier(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000313"))
    person = created(client, "Practitioner", practitioner("SE2321000131-P000000000304"))
    membership = role(person["id"], unit["id"], "sjukskoterska", healthcareService=[
        {"type": "HealthcareService", "identifier": {"system": INBOX_ID, "value": "SE2321000131-E000000000313#samverkan"}}])
    stored = created(client, "PractitionerRole", membership)
    inbox = search(client, "HealthcareService?identifier=" + INBOX_ID + "|SE2321000131-E000000000313%23samverkan")[0]
    assert stored["healthcareService"][0]["reference"] == f"HealthcareService/{inbox['id']}"
    assert [r["id"] for r in search(client, f"PractitionerRole?service=HealthcareService/{inbox['id']}")] == [stored["id"]]


def test_membership_of_an_unknown_inbox_is_422(client):
    unit = created(client, "Organization", organization("SE2321000131-E000000000314"))
    person = created(client, "Practitioner", practitioner("SE2321000131-P000000000305"))
    membership = role(person["id"], unit["id"], "sjukskoterska", healthcareService=[
        {"type": "HealthcareService", "identifier": {"system": INBOX_ID, "value": "SE2321000131-E000000000314#nowhere"}}])
    response = post(client, "PractitionerRole", membership)
    assert response.status_code == 422 and issue(response)["code"] == "not-found"


def _merge(client, unit_id, successor_id):
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "successor", "valueReference": {"reference": f"Organization/{successor_id}"}}]}
    return client.post(f"/fhir/Organization/{unit_id}/$merge", json=parameters, headers={"Content-Type": "application/fhir+json"})


def test_merging_closes_the_unit_records_its_successor_and_closes_its_inboxes_mc_r31(client):
    a = created(client, "Organization", organization("SE2321000131-E000000000320"))
    b = created(client, "Organization", organization("SE2321000131-E000000000321"))
    response = _merge(client, a["id"], b["id"])
    assert response.status_code == 200
    merged = client.get(f"/fhir/Organization/{a['id']}").get_json()
    assert merged["active"] is False
    assert merged["extension"][0]["valueReference"]["reference"] == f"Organization/{b['id']}"
    assert _inboxes(client, a["id"], active="true") == []
    assert len(_inboxes(client, b["id"], active="true")) == 2
    assert _merge(client, a["id"], b["id"]).status_code == 200  # repeating it changes nothing
    assert client.get(f"/fhir/Organization/{a['id']}").get_json()["meta"]["versionId"] == merged["meta"]["versionId"]


def test_a_merged_unit_cannot_be_reopened_or_given_a_successor_by_update_mc_r31(client):
    a = created(client, "Organization", organization("SE2321000131-E000000000322"))
    b = created(client, "Organization", organization("SE2321000131-E000000000323"))
    _merge(client, a["id"], b["id"])
    merged = client.get(f"/fhir/Organization/{a['id']}").get_json()
    merged["active"] = True
    response = put(client, f"Organization/{a['id']}", merged)
    assert response.status_code == 422 and rule_of(response) == "MC-R31"
    c = created(client, "Organization", organization("SE2321000131-E000000000324"))
    c["extension"] = [{"url": "https://meddelandecenter-adapter.github.io/fhir/StructureDefinition/successor",
                       "valueReference": {"reference": f"Organization/{b['id']}"}}]
    assert rule_of(put(client, f"Organization/{c['id']}", c)) == "MC-R31"


def test_merging_into_itself_or_an_unknown_unit_is_refused(client):
    a = created(client, "Organization", organization("SE2321000131-E000000000325"))
    assert rule_of(_merge(client, a["id"], a["id"])) == "MC-R31"
    assert _merge(client, a["id"], "no-such-unit").status_code == 422
    assert _merge(client, "no-such-unit", a["id"]).status_code == 404


def test_the_sandbox_directory_loads_idempotently(app, sandbox):
    from adapter.cli import sandbox_directory_path
    from adapter.directory.loader import adapter_context, load_directory

    state = app.extensions["mc"]
    again = load_directory(path=sandbox_directory_path(), make_context=lambda: adapter_context(state))
    assert (again.created, again.updated, again.failed) == (0, 0, [])
    assert again.unchanged == sandbox.created


def test_the_sandbox_has_every_role_and_a_physician_in_two_units(client, sandbox):
    roles = search(client, "PractitionerRole?_count=500")
    codes = {c["code"] for r in roles for cc in r["code"] for c in cc["coding"]}
    assert codes == {"verksamhetschef", "enhetschef", "medicinsk-sekreterare", "lakare", "lakare-under-utbildning",
                     "sjukskoterska", "underskoterska", "student", "kodare", "forvaltning", "inkorgsadministrator", "revisor"}
    per_person = {}
    for r in roles:
        per_person.setdefault(r["practitioner"]["reference"], set()).add(r["organization"]["reference"])
    assert any(len(units) == 2 for units in per_person.values())
    kinds = {c["code"] for o in search(client, "Organization?_count=100") for t in o["type"] for c in t["coding"]}
    assert kinds == {"verksamhet", "region-unit", "private-provider", "municipality", "school"}


def _directory_file(tmp_path, unit: str, person: str, *extra: dict) -> str:
    """A directory Bundle: a unit, a user, `extra` entries, and the user's role at the unit."""
    entries = [
        {"fullUrl": "urn:uuid:u1", "resource": organization(unit), "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:p1", "resource": practitioner(person), "request": {"method": "POST", "url": "Practitioner"}},
        *extra,
        {"resource": {**role("x", "y", "lakare"), "practitioner": {"reference": "urn:uuid:p1"}, "organization": {"reference": "urn:uuid:u1"}},
         "request": {"method": "POST", "url": "PractitionerRole"}},
    ]
    path = tmp_path / "dir.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "batch", "entry": entries}))
    return str(path)


def _load(app, path: str, batch_size: int):
    from adapter.directory.loader import adapter_context, load_directory

    state = app.extensions["mc"]
    return load_directory(path=path, make_context=lambda: adapter_context(state), batch_size=batch_size)


def test_the_directory_load_command_is_idempotent(tmp_path, app, config):
    path = _directory_file(tmp_path, "SE2321000131-E000000000330", "SE2321000131-P000000000330")
    first = _load(app, path, batch_size=2)
    second = _load(app, path, batch_size=2)
    assert (first.created, first.failed) == (3, [])
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)


def test_a_bad_entry_in_a_batch_is_reported_alone_and_the_rest_of_the_batch_loads(tmp_path, app, client):
    bad = organization("SE2321000131-E000000000342")
    bad["type"][0]["coding"][0]["code"] = "no-such-kind"
    path = _directory_file(tmp_path, "SE2321000131-E000000000341", "SE2321000131-P000000000341",
                           {"fullUrl": "urn:uuid:bad", "resource": bad, "request": {"method": "POST", "url": "Organization"}})
    report = _load(app, path, batch_size=10)
    assert report.created == 3 and len(report.failed) == 1 and report.failed[0].startswith("urn:uuid:bad")
    person = search(client, "Practitioner?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-P000000000341")[0]
    roles = search(client, f"PractitionerRole?practitioner=Practitioner/{person['id']}")
    assert len(roles) == 1 and len(search(client, "Organization?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-E000000000342")) == 0
    again = _load(app, path, batch_size=10)
    assert (again.created, again.updated, again.unchanged, len(again.failed)) == (0, 0, 3, 1)


def _read_model(app):
    from sqlalchemy import select

    from adapter.directory.models import InboxEntry, InboxMember

    with app.extensions["mc"].sessions() as session:
        entries = sorted(tuple(r) for r in session.execute(select(InboxEntry.__table__)).all())
        members = sorted(tuple(r) for r in session.execute(select(InboxMember.__table__)).all())
    return entries, members


def test_the_routing_read_model_follows_the_directory_and_rebuilds_to_the_same_rows(app, client, sandbox):
    from adapter.directory.readmodel import rebuild_all

    entries, members = _read_model(app)
    parties = {kind: {e[2] for e in entries if e[1] == kind} for kind in {e[1] for e in entries}}
    assert parties["personal"] == {"care", "municipal", "school-other"}
    assert len(members) > 10
    with app.extensions["mc"].sessions.begin() as session:
        rebuild_all(session)
    assert _read_model(app) == (entries, members)


def test_closing_a_unit_makes_its_users_unassigned_and_its_inboxes_closed_in_the_read_model(app, client):
    unit = created(client, "Organization", organization("SE2120000001-E000000000340", "municipality"))
    person = created(client, "Practitioner", practitioner("SE2120000001-P000000000340"))
    created(client, "PractitionerRole", role(person["id"], unit["id"], "sjukskoterska"))
    entries = {e[0]: e for e in _read_model(app)[0]}
    assert entries[f"Practitioner/{person['id']}"][2] == "municipal"
    unit["active"] = False
    put(client, f"Organization/{unit['id']}", unit)
    entries = {e[0]: e for e in _read_model(app)[0]}
    assert entries[f"Practitioner/{person['id']}"][2] == "unassigned"
    assert not any(e[3] for e in entries.values() if e[4] == unit["id"])
