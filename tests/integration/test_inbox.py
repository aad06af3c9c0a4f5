"""Inbox items over HTTP: folders, statuses, updates, assignment, reminders, trash, merge, polling."""

from datetime import datetime, timedelta, timezone

import pytest

from adapter.identifiers import BASE
from tests.helpers import FHIR_JSON, bearer, issue, rule_of, search
from tests.integration.messaging_helpers import (
    ALFA, ANNA, CECILIA, GAMMA, JON, KOMMUN_A, LARS, MARIA, NILS, items, message, send,
)

PATCH = {"Content-Type": "application/json-patch+json"}




def _item(client, inbox, **kwargs) -> dict:
    """Send a message from Kommun A's samverkan inbox to Alfa's; return Alfa's item."""
    kwargs.setdefault("sent_by", inbox.personal(MARIA))
    assert send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], **kwargs)).status_code == 201
    return items(client, inbox.shared(ALFA))[-1]


def _patch(client, task, operations, headers=None, version=None):
    etag = {"If-Match": f'W/"{version or task["meta"]["versionId"]}"'}
    return client.patch(f"/fhir/Task/{task['id']}", json=operations, headers={**PATCH, **etag, **(headers or {})})


def _status(client, task, status, headers=None):
    return _patch(client, task, [{"op": "replace", "path": "/status", "value": status}], headers)


def _folder(client, owner, folder):
    return [t["id"] for t in search(client, f"Task?owner={owner}&folder={folder}")]


def test_a_message_item_lives_in_messages_mc_r13(client, inbox):
    task = _item(client, inbox)
    assert _folder(client, inbox.shared(ALFA), "messages") == [task["id"]]
    assert _folder(client, inbox.shared(ALFA), "results") == []


def test_a_high_priority_message_is_also_a_priority_item_mc_r14(client, inbox):
    urgent = _item(client, inbox, priority="urgent")
    _item(client, inbox, priority="routine")
    assert _folder(client, inbox.shared(ALFA), "priority") == [urgent["id"]]


def test_an_item_past_its_due_date_becomes_a_priority_item_without_being_touched_mc_r14(client, inbox, fixed_clock):
    reminder = {"resourceType": "Task", "status": "requested", "intent": "order",
                "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
                "owner": {"reference": inbox.personal(ANNA)}, "description": "Ring tillbaka",
                "restriction": {"period": {"end": "2026-11-25T08:00:00+01:00"}}}
    created = client.post("/fhir/Task", json=reminder, headers={**FHIR_JSON, **bearer(client.application, hsa_id=ANNA)})
    assert created.status_code == 201, created.get_json()
    assert _folder(client, inbox.personal(ANNA), "work-items") == [created.get_json()["id"]]
    assert _folder(client, inbox.personal(ANNA), "priority") == []
    fixed_clock.now = datetime(2026, 11, 25, 7, 1, tzinfo=timezone.utc)  # 08:01 in Stockholm
    assert _folder(client, inbox.personal(ANNA), "priority") == [created.get_json()["id"]]


def test_opening_is_an_explicit_update_and_a_get_never_changes_state_mc_r26(client, inbox):
    task = _item(client, inbox)
    client.get(f"/fhir/Task/{task['id']}")
    assert client.get(f"/fhir/Task/{task['id']}").get_json()["status"] == "requested"
    opened = _status(client, task, "in-progress")
    assert opened.status_code == 200
    assert opened.get_json()["businessStatus"]["coding"][0]["code"] == "opened"


def test_pause_resume_and_complete_follow_the_table_mc_r27(client, inbox):
    task = _item(client, inbox)
    for status, business in (("in-progress", "opened"), ("on-hold", "paused"), ("in-progress", "opened"), ("completed", "done")):
        response = _status(client, task, status)
        assert response.status_code == 200, response.get_json()
        task = response.get_json()
        assert task["businessStatus"]["coding"][0]["code"] == business


def test_a_transition_the_table_does_not_allow_is_422_mc_r26(client, inbox):
    task = _item(client, inbox)
    response = _status(client, task, "completed")
    assert response.status_code == 422 and rule_of(response) == "MC-R26"
    assert issue(response)["expression"] == ["Task.status"]


def test_an_update_without_if_match_is_428_and_a_stale_one_412(client, inbox):
    task = _item(client, inbox)
    operations = [{"op": "replace", "path": "/status", "value": "in-progress"}]
    assert client.patch(f"/fhir/Task/{task['id']}", json=operations, headers=PATCH).status_code == 428
    assert _status(client, task, "in-progress").status_code == 200
    assert _patch(client, task, [{"op": "replace", "path": "/status", "value": "on-hold"}], version="1").status_code == 412


def test_put_works_like_patch(client, inbox):
    task = _item(client, inbox)
    task["status"] = "in-progress"
    response = client.put(f"/fhir/Task/{task['id']}", json=task, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert response.status_code == 200 and response.get_json()["meta"]["versionId"] == "2"


def test_the_recipient_cannot_change_the_priority_mc_r25(client, inbox):
    task = _item(client, inbox, priority="routine")
    response = _patch(client, task, [{"op": "add", "path": "/priority", "value": "urgent"}])
    assert response.status_code == 422 and rule_of(response) == "MC-R25"


def test_the_recipient_changes_only_status_assignee_trash_and_note(client, inbox):
    task = _item(client, inbox)
    assert _patch(client, task, [{"op": "add", "path": "/note", "value": [{"text": "Ringt upp"}]}]).status_code == 200
    task = client.get(f"/fhir/Task/{task['id']}").get_json()
    response = _patch(client, task, [{"op": "replace", "path": "/owner", "value": {"reference": inbox.shared(GAMMA)}}])
    assert response.status_code == 422 and issue(response)["expression"] == ["Task.owner"]


def test_opening_a_message_with_a_read_receipt_request_notifies_the_sender_mc_r22(client, inbox):
    extension = [{"url": f"{BASE}/StructureDefinition/read-receipt-requested", "valueBoolean": True}]
    task = _item(client, inbox, extension=extension)
    assert _folder(client, inbox.shared(KOMMUN_A), "notifications") == []
    _status(client, task, "in-progress")
    receipts = search(client, f"Task?owner={inbox.shared(KOMMUN_A)}&folder=notifications")
    assert [r["code"]["coding"][0]["code"] for r in receipts] == ["read-receipt"]
    assert receipts[0]["focus"] == task["focus"]
    task = client.get(f"/fhir/Task/{task['id']}").get_json()
    _status(client, task, "on-hold")
    assert len(_folder(client, inbox.shared(KOMMUN_A), "notifications")) == 1  # only the first opening


def test_a_shared_inbox_item_is_assigned_to_a_member_and_stays_showing_the_assignee_mc_r37(client, inbox):
    task = _item(client, inbox)
    assignee = {"url": f"{BASE}/StructureDefinition/assignee", "valueReference": {"reference": inbox.personal(CECILIA)}}
    response = _patch(client, task, [{"op": "add", "path": "/extension", "value": [assignee]}])
    assert response.status_code == 200
    assert [t["id"] for t in search(client, f"Task?owner={inbox.shared(ALFA)}&assignee={inbox.personal(CECILIA)}")] == [task["id"]]
    assert [t["id"] for t in search(client, f"Task?owner={inbox.shared(ALFA)}")] == [task["id"]]


def test_assigning_to_a_non_member_is_422_mc_r37(client, inbox):
    task = _item(client, inbox)
    assignee = {"url": f"{BASE}/StructureDefinition/assignee", "valueReference": {"reference": inbox.personal(NILS)}}
    response = _patch(client, task, [{"op": "add", "path": "/extension", "value": [assignee]}])
    assert response.status_code == 422 and rule_of(response) == "MC-R37"


def test_a_completed_item_leaves_the_open_items_mc_r37(client, inbox):
    task = _item(client, inbox)
    task = _status(client, task, "in-progress").get_json()
    _status(client, task, "completed")
    assert search(client, f"Task?owner={inbox.shared(ALFA)}&status=requested,in-progress,on-hold") == []


def test_a_non_member_cannot_handle_a_shared_inbox_item(app, client, inbox):
    task = _item(client, inbox)
    response = _status(client, task, "in-progress", bearer(app, hsa_id=NILS))
    assert response.status_code == 404  # not visible to him: it does not exist for him (DESIGN.md)
    assert _status(client, task, "in-progress", bearer(app, hsa_id=CECILIA)).status_code == 200


def _reminder(owner, due="2026-12-01", **extra):
    return {"resourceType": "Task", "status": "requested", "intent": "order",
            "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
            "owner": {"reference": owner}, "restriction": {"period": {"end": due}} if due else {}, **extra}


def test_a_reminder_to_self_with_a_due_date_lands_in_work_items_mc_r20(app, client, inbox):
    response = client.post("/fhir/Task", json=_reminder(inbox.personal(ANNA)), headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert response.status_code == 201
    assert response.get_json()["requester"] == {"reference": inbox.personal(ANNA)}
    assert _folder(client, inbox.personal(ANNA), "work-items") == [response.get_json()["id"]]


def test_a_reminder_needs_a_due_date(app, client, inbox):
    reminder = _reminder(inbox.personal(ANNA), due=None)
    del reminder["restriction"]
    response = client.post("/fhir/Task", json=reminder, headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert response.status_code == 422 and issue(response)["expression"] == ["Task.restriction"]


def test_a_reminder_to_someone_else_needs_a_dialogue_mc_r21(app, client, inbox):
    headers = {**FHIR_JSON, **bearer(app, hsa_id=ANNA)}
    response = client.post("/fhir/Task", json=_reminder(inbox.personal(JON)), headers=headers)
    assert response.status_code == 422 and rule_of(response) == "MC-R21"
    held = [{"url": f"{BASE}/StructureDefinition/dialogue-held", "valueBoolean": True}]
    assert client.post("/fhir/Task", json=_reminder(inbox.personal(JON), extension=held), headers=headers).status_code == 201


def test_a_reminder_never_goes_to_a_municipal_users_personal_inbox_mc_r7(app, client, inbox):
    held = [{"url": f"{BASE}/StructureDefinition/dialogue-held", "valueBoolean": True}]
    response = client.post("/fhir/Task", json=_reminder(inbox.personal(LARS), extension=held), headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert rule_of(response) == "MC-R7"


def test_a_reminder_goes_to_a_personal_inbox_mc_r20(app, client, inbox):
    response = client.post("/fhir/Task", json=_reminder(inbox.shared(ALFA)), headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)})
    assert rule_of(response) == "MC-R20"


def test_unsigned_documentation_comes_from_the_ehr_into_work_items_mc_r20(app, client, inbox):
    ehr = bearer(app, client="millennium", org=ALFA, capabilities=("ehr",))
    document = client.post("/fhir/DocumentReference", headers={**FHIR_JSON, **ehr}, json={
        "resourceType": "DocumentReference", "status": "current", "docStatus": "preliminary",
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "document-review"}]}],
        "extension": [{"url": f"{BASE}/StructureDefinition/responsible", "valueReference": {"reference": inbox.personal(JON)}}],
        "author": [{"reference": inbox.personal(ANNA)}], "content": [{"attachment": {"contentType": "text/plain", "data": "SGVq"}}],
    }).get_json()
    task = {"resourceType": "Task", "status": "requested", "intent": "order",
            "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "unsigned-documentation"}]},
            "owner": {"reference": inbox.personal(ANNA)}, "focus": {"reference": f"DocumentReference/{document['id']}"}}
    assert client.post("/fhir/Task", json=task, headers={**FHIR_JSON, **bearer(app, hsa_id=ANNA)}).status_code == 403
    foreign = client.post("/fhir/Task", json=task, headers={**FHIR_JSON, **bearer(app, client="kommun", org=KOMMUN_A)})
    assert foreign.status_code == 422 and "does not exist" in issue(foreign)["diagnostics"]  # it cannot see the document
    created = client.post("/fhir/Task", json=task, headers={**FHIR_JSON, **ehr})
    assert created.status_code == 201
    assert _folder(client, inbox.personal(ANNA), "work-items") == [created.get_json()["id"]]


def test_an_erecept_error_is_in_messages_and_priority_items_mc_r19(app, client, inbox):
    resource = message(inbox.shared(ALFA), [inbox.personal(ANNA)], category="erecept-error")
    assert send(client, resource, bearer(app, client="erecept", org=ALFA, capabilities=("ehr",))).status_code == 201
    [task] = items(client, inbox.personal(ANNA))
    assert _folder(client, inbox.personal(ANNA), "messages") == [task["id"]]
    assert _folder(client, inbox.personal(ANNA), "priority") == [task["id"]]


def test_an_fk_question_is_due_two_weeks_after_it_started_and_then_a_priority_item_mc_r19(app, client, inbox, fixed_clock):
    resource = message(inbox.shared(ALFA), [inbox.personal(ANNA)], category="fk-question")
    assert send(client, resource, bearer(app, client="fk", org=ALFA, capabilities=("ehr",))).status_code == 201
    [task] = items(client, inbox.personal(ANNA))
    assert task["restriction"]["period"]["end"] == "2026-12-08T10:00:00+01:00"
    assert _folder(client, inbox.personal(ANNA), "priority") == []
    fixed_clock.now += timedelta(days=14, minutes=1)
    assert _folder(client, inbox.personal(ANNA), "priority") == [task["id"]]


def _trash(client, task):
    trashed = {"url": f"{BASE}/StructureDefinition/trashed", "valueDateTime": "2000-01-01T00:00:00Z"}
    return _patch(client, task, [{"op": "add", "path": "/extension", "value": [trashed]}])


def test_trash_and_restore_mc_r22(client, inbox, fixed_clock):
    task = _item(client, inbox)
    trashed = _trash(client, task)
    assert trashed.status_code == 200
    assert trashed.get_json()["extension"][0]["valueDateTime"] == "2026-11-24T09:00:00.000Z"  # the server's time
    assert search(client, f"Task?owner={inbox.shared(ALFA)}") == []
    assert _folder(client, inbox.shared(ALFA), "trash") == [task["id"]]
    restored = _patch(client, trashed.get_json(), [{"op": "remove", "path": "/extension"}])
    assert restored.status_code == 200
    assert _folder(client, inbox.shared(ALFA), "messages") == [task["id"]]


def test_purge_deletes_items_trashed_30_days_ago_but_never_the_message_mc_r22(app, client, inbox, fixed_clock):
    from adapter.inbox.trash import purge_batch

    old = _item(client, inbox)
    _trash(client, old)
    fixed_clock.now += timedelta(days=10)
    recent = _item(client, inbox)
    _trash(client, recent)
    fixed_clock.now += timedelta(days=20)
    with app.extensions["mc"].sessions.begin() as session:
        assert purge_batch(session, now=fixed_clock.now) == 1
    with app.extensions["mc"].sessions.begin() as session:
        assert purge_batch(session, now=fixed_clock.now) == 0  # idempotent
    assert client.get(f"/fhir/Task/{old['id']}").status_code == 404
    assert _folder(client, inbox.shared(ALFA), "trash") == [recent["id"]]
    assert client.get(f"/fhir/{old['focus']['reference']}").status_code == 200


def test_the_owner_empties_the_trash_at_any_time_mc_r22(client, inbox):
    task = _item(client, inbox)
    _trash(client, task)
    response = client.post(f"/fhir/{inbox.shared(ALFA)}/$empty-trash", json={"resourceType": "Parameters"}, headers=FHIR_JSON)
    assert response.status_code == 200 and "1 items" in issue(response)["diagnostics"]
    assert _folder(client, inbox.shared(ALFA), "trash") == []


def test_merging_a_unit_moves_its_open_items_keeping_their_history_mc_r31(client, inbox):
    task = _item(client, inbox)
    done = _item(client, inbox)
    done = _status(client, done, "in-progress").get_json()
    _status(client, done, "completed")
    alfa = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{ALFA}")[0]
    gamma = search(client, f"Organization?identifier=urn:oid:1.2.752.29.4.19|{GAMMA}")[0]
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "successor", "valueReference": {"reference": f"Organization/{gamma['id']}"}}]}
    assert client.post(f"/fhir/Organization/{alfa['id']}/$merge", json=parameters, headers=FHIR_JSON).status_code == 200
    assert [t["id"] for t in items(client, inbox.shared(GAMMA))] == [task["id"]]
    assert [t["id"] for t in items(client, inbox.shared(ALFA))] == [done["id"]]
    history = client.get(f"/fhir/Task/{task['id']}/_history").get_json()
    assert [e["resource"]["owner"]["reference"] for e in history["entry"]] == [inbox.shared(GAMMA), inbox.shared(ALFA)]


def test_polling_pages_in_feed_order_with_next_and_a_resume_cursor(client, inbox):
    created = [_item(client, inbox)["id"] for _ in range(5)]
    seen, url = [], f"/fhir/Task?owner={inbox.shared(ALFA)}&_count=2"
    while url:
        bundle = client.get(url).get_json()
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "resume" in links
        url = links.get("next", "").removeprefix("https://fhir.example.test") or None
    assert seen == created
    resume = links["resume"].removeprefix("https://fhir.example.test")
    assert client.get(resume).get_json().get("entry", []) == []
    later = _item(client, inbox)["id"]
    assert [e["resource"]["id"] for e in client.get(resume).get_json().get("entry", [])] == [later]


def test_a_changed_item_moves_to_the_end_of_the_feed_and_is_seen_again(client, inbox):
    first = _item(client, inbox)
    _item(client, inbox)
    bundle = client.get(f"/fhir/Task?owner={inbox.shared(ALFA)}").get_json()
    resume = next(link["url"] for link in bundle["link"] if link["relation"] == "resume").removeprefix("https://fhir.example.test")
    _status(client, first, "in-progress")
    changed = client.get(resume).get_json().get("entry", [])
    assert [(e["resource"]["id"], e["resource"]["status"]) for e in changed] == [(first["id"], "in-progress")]


@pytest.mark.parametrize("query", [
    "Task", "Task?status=requested", "Task?owner=Organization/x", "Task?owner=a&owner=b",
    "Task?owner=HealthcareService/x&folder=attic", "Task?owner=HealthcareService/x&status=sleeping",
    "Task?owner=HealthcareService/x&_cursor=forged.value", "Task?owner=HealthcareService/x&due=soon",
])
def test_bad_polls_are_400(client, query):
    assert client.get(f"/fhir/{query}").status_code == 400


def test_a_cursor_from_another_inbox_is_refused(client, inbox):
    _item(client, inbox)
    bundle = client.get(f"/fhir/Task?owner={inbox.shared(ALFA)}").get_json()
    cursor = next(link["url"] for link in bundle["link"] if link["relation"] == "resume").split("_cursor=")[1]
    assert client.get(f"/fhir/Task?owner={inbox.shared(GAMMA)}&_cursor={cursor}").status_code == 400
