"""Sending messages over HTTP: the routine's rules by name, atomicity, retries, bad input."""

import pytest
from sqlalchemy import func, select

from adapter.messaging.models import JournalForward, Message
from tests.helpers import FHIR_JSON, issue, rule_of, search
from tests.integration.messaging_helpers import (
    ALFA, ANNA, CECILIA, GAMMA, JON, KOMMUN_A, KOMMUN_B, LARS, MARIA, NILS, OLGA, SKOLA, items, message, send,
)



def _counts(app):
    from adapter.fhir.models import ResourceRow

    with app.extensions["mc"].sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(ResourceRow).where(ResourceRow.resource_type.in_(["Communication", "Task"]))),
            session.scalar(select(func.count()).select_from(Message)),
        )


def test_municipality_cannot_write_to_a_personal_inbox(client, inbox):
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA), inbox.personal(LARS)], sent_by=inbox.personal(MARIA)))
    assert response.status_code == 422 and rule_of(response) == "MC-R7"
    assert issue(response)["expression"] == ["Communication.recipient[1]"]
    # not a region clinician's either (#11: no personal inbox at either end of an exchange with a municipality)
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.personal(ANNA)], sent_by=inbox.personal(MARIA)))
    assert response.status_code == 422 and rule_of(response) == "MC-R7"
    assert issue(response)["expression"] == ["Communication.recipient[0]"]


def test_a_municipal_users_personal_inbox_never_sends(client, inbox):
    response = send(client, message(inbox.personal(LARS), [inbox.shared(ALFA)]))
    assert response.status_code == 422 and rule_of(response) == "MC-R7"


def test_a_clinician_cannot_write_to_a_municipal_users_personal_inbox(client, inbox):
    response = send(client, message(inbox.personal(ANNA), [inbox.personal(LARS)]))
    assert rule_of(response) == "MC-R7" and issue(response)["details"]["text"].startswith("Municipal users")


def test_shared_inboxes_of_a_municipality_and_a_region_unit_reach_each_other_mc_r5(client, inbox):
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA)))
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/Communication/{response.get_json()['id']}/_history/1")
    [item] = items(client, inbox.shared(ALFA))
    assert item["code"]["coding"][0]["code"] == "message"
    assert item["requester"] == {"reference": inbox.personal(MARIA)}  # the member who sent it (MC-R38)
    assert item["focus"] == {"reference": f"Communication/{response.get_json()['id']}"}
    assert item["status"] == "requested" and item["businessStatus"]["coding"][0]["code"] == "waiting"


def test_clinicians_at_care_providers_write_directly_without_a_patient_mc_r9(client, inbox):
    assert send(client, message(inbox.personal(ANNA), [inbox.personal(JON)])).status_code == 201


def test_a_patient_message_without_save_to_journal_is_refused_mc_r8(client, inbox, app):
    before = _counts(app)
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True))
    assert response.status_code == 422 and rule_of(response) == "MC-R8"
    assert _counts(app) == before


def test_a_patient_message_between_personal_inboxes_is_refused_without_the_flag_mc_r6(client, inbox):
    response = send(client, message(inbox.personal(ANNA), [inbox.personal(JON)], patient=True))
    assert rule_of(response) == "MC-R6"


def test_a_flagged_patient_message_is_recorded_for_the_journal_mc_r8(client, inbox, app):
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True))
    assert response.status_code == 201
    [item] = items(client, inbox.shared(ALFA))
    assert item["for"]["identifier"]["value"] == "191212121212"
    with app.extensions["mc"].sessions() as session:
        assert session.get(JournalForward, response.get_json()["id"]).state == "pending"


def test_once_a_thread_is_saved_to_the_journal_every_later_message_is_mc_r8(client, inbox):
    first = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True)).get_json()
    reply = message(inbox.shared(ALFA), [inbox.shared(KOMMUN_A)], sent_by=inbox.personal(ANNA), patient=True,
                    inResponseTo=[{"reference": f"Communication/{first['id']}"}])
    stored = send(client, reply)
    assert stored.status_code == 201
    flags = [e for e in stored.get_json()["extension"] if e["url"].endswith("save-to-journal")]
    assert flags == [{"url": flags[0]["url"], "valueBoolean": True}]
    again = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA),
                    inResponseTo=[{"reference": f"Communication/{stored.get_json()['id']}"}])
    assert any(e["url"].endswith("save-to-journal") for e in send(client, again).get_json()["extension"])


@pytest.mark.parametrize("category", ["erecept-renewal", "patient-contact-request", "consult", "followup-booking"])
def test_the_four_flows_are_refused_as_messages_mc_r10(client, inbox, category):
    response = send(client, message(inbox.personal(ANNA), [inbox.shared(GAMMA)], category=category))
    assert response.status_code == 422 and rule_of(response) == "MC-R10"


def test_a_consult_refusal_points_to_the_consult_flow_mc_r10(client, inbox):
    response = send(client, message(inbox.personal(ANNA), [inbox.shared(GAMMA)], category="consult"))
    assert "ServiceRequest" in issue(response)["details"]["text"] and "konsult" in issue(response)["diagnostics"]


def test_a_user_cannot_send_a_system_message_mc_r19(client, inbox):
    response = send(client, message(inbox.shared(ALFA), [inbox.personal(ANNA)], category="erecept-error", sent_by=inbox.personal(ANNA)))
    assert rule_of(response) == "MC-R19"


def test_a_message_to_three_inboxes_creates_three_items(client, inbox):
    recipients = [inbox.shared(ALFA), inbox.shared(GAMMA), inbox.shared(KOMMUN_B)]
    assert send(client, message(inbox.shared(KOMMUN_A), recipients, sent_by=inbox.personal(MARIA))).status_code == 201
    assert [len(items(client, r)) for r in recipients] == [1, 1, 1]


def test_a_message_refused_for_one_recipient_stores_nothing_for_any(client, inbox, app):
    before = _counts(app)
    recipients = [inbox.shared(ALFA), inbox.shared(GAMMA), inbox.personal(NILS)]
    response = send(client, message(inbox.shared(KOMMUN_A), recipients, sent_by=inbox.personal(MARIA)))
    assert response.status_code == 422 and issue(response)["expression"] == ["Communication.recipient[2]"]
    assert _counts(app) == before
    assert items(client, inbox.shared(ALFA)) == []


def test_a_repeated_identifier_returns_the_original_and_creates_nothing(client, inbox, app):
    resource = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), identifier="kommun-a-4711")
    first = send(client, resource)
    counts = _counts(app)
    second = send(client, resource)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json() == first.get_json()
    assert _counts(app) == counts


def test_the_same_identifier_with_other_content_is_a_conflict(client, inbox):
    resource = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), identifier="kommun-a-4712")
    assert send(client, resource).status_code == 201
    resource["payload"] = [{"contentString": "Something else"}]
    assert send(client, resource).status_code == 409


def test_the_same_identifier_from_another_sender_is_another_message(client, inbox):
    first = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), identifier="shared-id")
    second = message(inbox.shared(KOMMUN_B), [inbox.shared(ALFA)], sent_by=inbox.personal(NILS), identifier="shared-id")
    assert (send(client, first).status_code, send(client, second).status_code) == (201, 201)


def test_a_message_from_a_shared_inbox_must_name_its_sender_mc_r38(client, inbox):
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)]))
    assert response.status_code == 422 and rule_of(response) == "MC-R38"


def test_sent_by_must_be_a_member_of_the_sending_inbox_mc_r38(client, inbox):
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(NILS)))
    assert response.status_code == 422 and rule_of(response) == "MC-R38"


def test_a_reply_to_a_shared_inbox_message_names_its_recipient_mc_r38(client, inbox):
    first = send(client, message(inbox.shared(ALFA, "meddelande"), [inbox.personal(ANNA)], sent_by=inbox.personal(CECILIA))).get_json()
    reply = message(inbox.personal(ANNA), [], inResponseTo=[{"reference": f"Communication/{first['id']}"}])
    del reply["recipient"]
    response = send(client, reply)
    assert response.status_code == 422 and rule_of(response) == "MC-R38"


def test_high_priority_is_the_senders_and_reaches_the_item_mc_r25(client, inbox):
    send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), priority="urgent"))
    assert items(client, inbox.shared(ALFA))[0]["priority"] == "urgent"


def test_a_read_receipt_request_is_stored(client, inbox):
    from adapter.identifiers import BASE

    extension = [{"url": f"{BASE}/StructureDefinition/read-receipt-requested", "valueBoolean": True}]
    stored = send(client, message(inbox.personal(ANNA), [inbox.personal(JON)], extension=extension)).get_json()
    assert extension[0] in stored["extension"]


def test_a_case_starts_in_a_shared_inbox_and_its_messages_reach_the_parties_mc_r3(client, inbox):
    start = send(client, message(inbox.shared(ALFA), [inbox.shared(SKOLA)], category="case-start", sent_by=inbox.personal(ANNA)))
    assert start.status_code == 201
    [case] = items(client, inbox.shared(SKOLA))
    assert case["code"]["coding"][0]["code"] == "case"
    assert case["extension"][0]["valueReference"] == {"reference": inbox.shared(ALFA)}
    follow = message(inbox.shared(SKOLA), [], category="case-message", sent_by=inbox.personal(OLGA),
                     partOf=[{"reference": f"Task/{case['id']}"}])
    del follow["recipient"]
    response = send(client, follow)
    assert response.status_code == 201
    assert response.get_json()["recipient"] == [{"reference": inbox.shared(ALFA)}]
    [item] = items(client, inbox.shared(ALFA))
    assert item["partOf"] == [{"reference": f"Task/{case['id']}"}]
    assert search(client, f"Communication?part-of=Task/{case['id']}")[0]["id"] == response.get_json()["id"]


def test_only_the_parties_write_in_a_case_mc_r3(client, inbox):
    send(client, message(inbox.shared(ALFA), [inbox.shared(SKOLA)], category="case-start", sent_by=inbox.personal(ANNA)))
    [case] = items(client, inbox.shared(SKOLA))
    outsider = message(inbox.shared(KOMMUN_A), [inbox.shared(SKOLA)], category="case-message", sent_by=inbox.personal(MARIA),
                       partOf=[{"reference": f"Task/{case['id']}"}])
    assert rule_of(send(client, outsider)) == "MC-R3"
    wrong_recipient = message(inbox.shared(SKOLA), [inbox.shared(GAMMA)], category="case-message", sent_by=inbox.personal(OLGA),
                              partOf=[{"reference": f"Task/{case['id']}"}])
    assert rule_of(send(client, wrong_recipient)) == "MC-R3"


def test_a_closed_inbox_receives_nothing_mc_r31(client, inbox):
    unit = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{GAMMA}")[0]
    unit["active"] = False
    assert client.put(f"/fhir/Organization/{unit['id']}", json=unit, headers=FHIR_JSON).status_code == 200
    response = send(client, message(inbox.personal(ANNA), [inbox.shared(GAMMA)]))
    assert response.status_code == 422 and rule_of(response) == "MC-R31"


@pytest.mark.parametrize("recipients, code", [
    ([], "required"),
    (["Patient/123"], "invalid"),
    (["HealthcareService/no-such-inbox"], "not-found"),
    (["Organization/x"], "not-found"),
])
def test_bad_recipients_are_422(client, inbox, recipients, code):
    response = send(client, message(inbox.personal(ANNA), recipients))
    assert response.status_code == 422 and issue(response)["code"] == code


def test_an_organization_is_not_an_inbox(client, inbox):
    unit = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{ALFA}")[0]
    response = send(client, message(inbox.personal(ANNA), [f"Organization/{unit['id']}"]))
    assert response.status_code == 422 and "inbox" in issue(response)["diagnostics"]


def test_a_logical_recipient_by_inbox_identifier_is_resolved(client, inbox):
    from adapter.identifiers import INBOX_ID

    resource = message(inbox.shared(ALFA), [], sent_by=inbox.personal(ANNA))
    resource["recipient"] = [{"type": "HealthcareService", "identifier": {"system": INBOX_ID, "value": f"{KOMMUN_A}#samverkan"}}]
    response = send(client, resource)
    assert response.status_code == 201
    assert response.get_json()["recipient"][0]["reference"] == inbox.shared(KOMMUN_A)


def test_a_message_needs_an_identifier_and_a_category(client, inbox):
    resource = message(inbox.personal(ANNA), [inbox.personal(JON)])
    del resource["identifier"]
    assert issue(send(client, resource))["expression"] == ["Communication.identifier"]
    resource = message(inbox.personal(ANNA), [inbox.personal(JON)])
    resource["category"][0]["coding"][0]["code"] = "gossip"
    assert issue(send(client, resource))["code"] == "code-invalid"


def test_messages_are_never_updated_and_message_items_come_only_from_messages(client, inbox):
    stored = send(client, message(inbox.personal(ANNA), [inbox.personal(JON)])).get_json()
    assert client.put(f"/fhir/Communication/{stored['id']}", json=stored, headers=FHIR_JSON).status_code == 405
    task = {"resourceType": "Task", "status": "requested", "intent": "order", "owner": {"reference": inbox.personal(JON)},
            "code": {"coding": [{"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/item-kind", "code": "message"}]}}
    response = client.post("/fhir/Task", json=task, headers=FHIR_JSON)
    assert response.status_code == 422 and issue(response)["expression"] == ["Task.code"]


def test_sent_items_and_searches(client, inbox):
    first = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True)).get_json()
    send(client, message(inbox.personal(ANNA), [inbox.personal(JON)]))
    assert [c["id"] for c in search(client, f"Communication?sender={inbox.shared(KOMMUN_A)}")] == [first["id"]]
    assert [c["id"] for c in search(client, f"Communication?recipient={inbox.shared(ALFA)}&category=message")] == [first["id"]]
    assert [c["id"] for c in search(client, "Communication?subject:identifier=http://electronichealth.se/identifier/personnummer|19121212-1212")] == [first["id"]]
    assert [c["id"] for c in search(client, "Communication?identifier=urn:example:sender-system|" + first["identifier"][0]["value"])] == [first["id"]]
    assert len(search(client, "Communication?sent=ge2020-01-01")) == 2
    assert search(client, "Communication?sent=lt2020-01-01") == []


def test_a_transaction_bundle_can_carry_a_message(client, inbox):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": message(inbox.personal(ANNA), [inbox.personal(JON)]), "request": {"method": "POST", "url": "Communication"}}]}
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200 and response.get_json().get("entry", [])[0]["response"]["status"] == "201 Created"
    assert len(items(client, inbox.personal(JON))) == 1


def test_a_forged_sent_by_is_refused(app, client, inbox):
    from tests.helpers import bearer

    forged = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))
    assert send(client, forged, bearer(app, hsa_id=LARS)).status_code == 403  # Lars is a member, but not Maria
    assert send(client, forged, bearer(app, hsa_id=MARIA)).status_code == 201


def test_a_system_client_sends_only_as_its_own_organisations_inboxes(app, client, inbox):
    from tests.helpers import bearer

    own = bearer(app, client="kommun-a-system", org=KOMMUN_A)
    other = bearer(app, client="kommun-b-system", org=KOMMUN_B)
    resource = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))
    assert send(client, resource, other).status_code == 403
    assert send(client, resource, own).status_code == 201
    assert send(client, message(inbox.personal(ANNA), [inbox.shared(ALFA)]), own).status_code == 403


def test_a_system_client_may_send_system_messages_without_sent_by_mc_r19(app, client, inbox):
    from tests.helpers import bearer

    resource = message(inbox.shared(ALFA), [inbox.personal(ANNA)], category="erecept-error")
    assert send(client, resource, bearer(app, client="region-other", org=ALFA)).status_code == 422  # not the EHR's
    response = send(client, resource, bearer(app, client="region-erecept", org=ALFA, capabilities=("ehr",)))
    assert response.status_code == 201
    [item] = items(client, inbox.personal(ANNA))
    assert item["code"]["coding"][0]["code"] == "erecept-error"
    assert item["requester"]["reference"].startswith("Organization/")


def test_a_user_sends_from_a_personal_inbox_only_as_themself(app, client, inbox):
    from tests.helpers import bearer

    resource = message(inbox.personal(ANNA), [inbox.personal(JON)])
    assert send(client, resource, bearer(app, hsa_id=CECILIA)).status_code == 403
    assert send(client, resource, bearer(app, hsa_id=ANNA)).status_code == 201


def test_mutated_messages_never_cause_a_500_and_refusals_store_nothing(app, client, inbox):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.integration.test_bad_input import _stored_rows, json_values

    template = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), patient=True, save=True)
    fields = sorted(set(template) | {"inResponseTo", "partOf", "priority", "sent"})

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(field=st.sampled_from(fields), value=json_values, nested=st.booleans())
    def run(field, value, nested):
        import copy
        import uuid

        body = copy.deepcopy(template)
        body["identifier"][0]["value"] = uuid.uuid4().hex
        if nested and isinstance(body.get(field), list) and body[field] and isinstance(body[field][0], dict):
            body[field][0][next(iter(body[field][0]))] = value
        else:
            body[field] = value
        before = _stored_rows(app)
        response = send(client, body)
        assert response.status_code < 500, response.get_json()
        if response.status_code >= 400:
            assert _stored_rows(app) == before

    run()
