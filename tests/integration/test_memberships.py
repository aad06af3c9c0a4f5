"""Shared-inbox membership through the admin API (MC-R33, MC-R32)."""


from tests.helpers import bearer
from tests.integration.messaging_helpers import ALFA, JON, KOMMUN_A, LARS, MARIA

HANS = "SE2321000131-P000000001008"  # enhetschef, Alfa
CECILIA = "SE2321000131-P000000001003"
PER = "SE2321000131-P000000009001"  # förvaltning



def _members(app, client, inbox_ref, as_hsa):
    return client.get(f"/admin/memberships?inbox={inbox_ref}", headers=bearer(app, hsa_id=as_hsa))


def test_a_unit_manager_adds_and_removes_members_of_the_units_inbox_mc_r33(app, client, inbox):
    meddelande = inbox.shared(ALFA, "meddelande")
    body = {"inbox": meddelande, "practitioner": inbox.personal(JON)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 204
    assert inbox.personal(JON) in _members(app, client, meddelande, HANS).get_json()["members"]
    assert client.delete(f"/admin/memberships?inbox={meddelande}&practitioner={inbox.personal(JON)}",
                         headers=bearer(app, hsa_id=HANS)).status_code == 204
    assert inbox.personal(JON) not in _members(app, client, meddelande, HANS).get_json()["members"]


def test_a_clinician_does_not_administer_membership_mc_r33(app, client, inbox):
    body = {"inbox": inbox.shared(ALFA), "practitioner": inbox.personal(JON)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=CECILIA)).status_code == 403


def test_in_a_municipality_the_appointed_inkorgsadministrator_does_mc_r33(app, client, inbox):
    body = {"inbox": inbox.shared(KOMMUN_A, "meddelande"), "practitioner": inbox.personal(LARS)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 403
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=MARIA)).status_code == 204


def test_function_inboxes_are_administered_by_forvaltning_mc_r32(app, client, inbox):
    body = {"inbox": inbox.shared(ALFA, "konsult-medicin"), "practitioner": inbox.personal(JON)}
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS)).status_code == 403
    assert client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=PER)).status_code == 204


def test_a_new_member_may_send_from_the_inbox_at_once(app, client, inbox):
    from tests.integration.messaging_helpers import message, send

    body = {"inbox": inbox.shared(ALFA, "meddelande"), "practitioner": inbox.personal(JON)}
    client.post("/admin/memberships", json=body, headers=bearer(app, hsa_id=HANS))
    sent = send(client, message(inbox.shared(ALFA, "meddelande"), [inbox.shared(KOMMUN_A)], sent_by=inbox.personal(JON)),
                bearer(app, hsa_id=JON))
    assert sent.status_code == 201
