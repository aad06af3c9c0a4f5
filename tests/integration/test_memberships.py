"""Shared-inbox membership through the admin API (MC-R33, MC-R32)."""


from tests.helpers import bearer
from tests.integration.messaging_helpers import ALFA, JON, KOMMUN_A, LARS, MARIA

HANS = "SE2321000131-P000000001008"  # enhetschef, Alfa
ULLA = "SE2321000131-P000000001004"  # undersköterska at Alfa, no inbox of her own yet
CECILIA = "SE2321000131-P000000001003"
PER = "SE2321000131-P000000009001"  # förvaltning



def _members(app, client, inbox_ref, as_hsa):
    return client.get(f"/admin/memberships?inbox={inbox_ref}", headers=bearer(app, hsa_id=as_hsa))


def test_a_unit_manager_adds_and_removes_members_of_the_units_inbox_mc_r33(app, client, inbox):
    meddelande = inbox.shared(ALFA, "meddelande")
    body = {"inbox": meddelande, "practitioner": inbox.personal(ULLA)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 204
    assert inbox.personal(ULLA) in _members(app, client, meddelande, HANS).get_json()["members"]
    assert client.delete(f"/admin/memberships?inbox={meddelande}&practitioner={inbox.personal(ULLA)}",
                         headers=bearer(app, hsa_id=HANS)).status_code == 204
    assert inbox.personal(ULLA) not in _members(app, client, meddelande, HANS).get_json()["members"]


def test_a_member_works_at_the_inboxs_unit_mc_r33(app, client, inbox):
    from tests.helpers import rule_of

    body = {"inbox": inbox.shared(ALFA, "meddelande"), "practitioner": inbox.personal(JON)}  # Jon works at Gamma
    response = client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS))
    assert response.status_code == 422 and rule_of(response) == "MC-R33"


def test_a_municipality_cannot_make_a_region_clinician_its_member_mc_r33_mc_r7(app, client, inbox):
    from tests.helpers import rule_of
    from tests.integration.messaging_helpers import ANNA, message, send

    body = {"inbox": inbox.shared(KOMMUN_A), "practitioner": inbox.personal(ANNA)}
    response = client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=MARIA))
    assert response.status_code == 422 and rule_of(response) == "MC-R33"
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(ANNA)), bearer(app, hsa_id=ANNA))
    assert sent.status_code == 422 and rule_of(sent) == "MC-R38"  # not a member, so not sent-by


def test_a_unit_manager_cannot_add_a_municipal_nurse_to_a_region_inbox_mc_r33(app, client, inbox):
    body = {"inbox": inbox.shared(ALFA), "practitioner": inbox.personal(LARS)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 422


def test_a_clinician_does_not_administer_membership_mc_r33(app, client, inbox):
    body = {"inbox": inbox.shared(ALFA), "practitioner": inbox.personal(JON)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=CECILIA)).status_code == 403


def test_in_a_municipality_the_appointed_inkorgsadministrator_does_mc_r33(app, client, inbox):
    body = {"inbox": inbox.shared(KOMMUN_A, "meddelande"), "practitioner": inbox.personal(LARS)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 403
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=MARIA)).status_code == 204


def test_function_inboxes_are_administered_within_their_operation_and_by_forvaltning_mc_r33_mc_r32(app, client, inbox):
    body = {"inbox": inbox.shared(ALFA, "konsult-medicin"), "practitioner": inbox.personal(ULLA)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=CECILIA)).status_code == 403
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 204
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=PER)).status_code == 204
    outside = {**body, "practitioner": inbox.personal(JON)}  # Gamma is outside Verksamhet Medicin
    assert client.post("/admin/memberships", json=outside, headers=bearer(app, hsa_id=PER)).status_code == 422


def test_a_new_member_may_send_from_the_inbox_at_once(app, client, inbox):
    from tests.integration.messaging_helpers import message, send

    body = {"inbox": inbox.shared(ALFA, "meddelande"), "practitioner": inbox.personal(ULLA)}
    client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS))
    sent = send(client, message(inbox.shared(ALFA, "meddelande"), [inbox.shared(ALFA)], sent_by=inbox.personal(ULLA)),
                bearer(app, hsa_id=ULLA))
    assert sent.status_code == 201
