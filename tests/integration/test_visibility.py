"""Who sees what: inboxes, their items and messages; the rest is 404 or left out (DESIGN.md, "Security")."""

import pytest

from tests.helpers import bearer, search
from tests.integration.messaging_helpers import (
    ALFA, ANNA, CECILIA, JON, KOMMUN_A, KOMMUN_B, LARS, MARIA, NILS, items, message, send,
)



@pytest.fixture
def sent(client, inbox):
    """A patient message from Exempelkommun's samverkan inbox to Alfa's."""
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True))
    assert response.status_code == 201
    return response.get_json()


def test_another_municipalitys_client_polling_a_samverkan_inbox_sees_nothing_of_it(app, client, inbox, sent):
    own = client.get(f"/fhir/Task?owner={inbox.shared(ALFA)}", headers=bearer(app, client="alfa-system", org=ALFA)).get_json()
    assert len(own["entry"]) == 1
    foreign = client.get(f"/fhir/Task?owner={inbox.shared(ALFA)}", headers=bearer(app, client="kommun-b", org=KOMMUN_B))
    assert foreign.status_code == 200 and foreign.get_json().get("entry", []) == []


def test_a_member_sees_the_shared_inboxs_items_and_a_non_member_gets_404(app, client, inbox, sent):
    [task] = items(client, inbox.shared(ALFA))
    assert client.get(f"/fhir/Task/{task['id']}", headers=bearer(app, hsa_id=CECILIA)).status_code == 200
    assert client.get(f"/fhir/Task/{task['id']}", headers=bearer(app, hsa_id=JON)).status_code == 404
    assert client.get(f"/fhir/Task/{task['id']}/_history/1", headers=bearer(app, hsa_id=JON)).status_code == 404
    assert client.get(f"/fhir/Task?owner={inbox.shared(ALFA)}", headers=bearer(app, hsa_id=JON)).get_json().get("entry", []) == []


def test_a_user_sees_their_own_personal_inbox_only(app, client, inbox):
    send(client, message(inbox.personal(ANNA), [inbox.personal(JON)]))
    assert len(client.get(f"/fhir/Task?owner={inbox.personal(JON)}", headers=bearer(app, hsa_id=JON)).get_json().get("entry", [])) == 1
    assert client.get(f"/fhir/Task?owner={inbox.personal(JON)}", headers=bearer(app, hsa_id=ANNA)).get_json().get("entry", []) == []


def test_a_message_is_seen_from_either_end_and_is_404_to_others(app, client, inbox, sent):
    path = f"/fhir/Communication/{sent['id']}"
    assert client.get(path, headers=bearer(app, hsa_id=MARIA)).status_code == 200  # a member of the sending inbox
    assert client.get(path, headers=bearer(app, hsa_id=CECILIA)).status_code == 200  # a member of the recipient inbox
    assert client.get(path, headers=bearer(app, hsa_id=NILS)).status_code == 404
    assert client.get(path, headers=bearer(app, client="kommun-b", org=KOMMUN_B)).status_code == 404
    assert client.get(path, headers=bearer(app, hsa_id=LARS)).status_code == 200  # Lars is a member of Exempelkommun samverkan


def test_searches_leave_out_what_the_caller_may_not_see(app, client, inbox, sent):
    query = "Communication?subject:identifier=http://electronichealth.se/identifier/personnummer|191212121212"
    assert [c["id"] for c in search(client, query, bearer(app, hsa_id=CECILIA))] == [sent["id"]]
    assert search(client, query, bearer(app, hsa_id=NILS)) == []
    response = client.get(f"/fhir/{query}&_include=Communication:recipient", headers=bearer(app, hsa_id=NILS))
    assert response.get_json().get("entry", []) == []


def test_sent_items_are_seen_by_the_sending_inboxs_members(app, client, inbox, sent):
    found = search(client, f"Communication?sender={inbox.shared(KOMMUN_A)}", bearer(app, hsa_id=MARIA))
    assert [c["id"] for c in found] == [sent["id"]]
