"""Inbound from Millennium: replies come back to the mirrored inboxes through the flow policy, once."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapter.config import Config
from adapter.millennium.inbound import Poller
from adapter.millennium.models import MillenniumCursor, MillenniumLink
from tests.conftest import BASE_URL
from tests.helpers import bearer, search
from tests.integration.delivery_helpers import rows, worker
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, KOMMUN_B, MARIA, PERSONNUMMER, items, message, send
from tests.integration.millennium_helpers import (ALFA_GROUP, ANNA_MID, INTEGRATION, KOMMUN_A_GROUP, KOMMUN_B_GROUP, PATIENT_MID,
                                                  place_in_millennium, settings, tenant)  # noqa: F401  (tenant is a fixture)

CASE_MESSAGE = "case-message"
REVISOR = "SE2321000131-P000000009002"


@pytest.fixture
def config(database_url) -> Config:
    return Config(database_url=database_url, public_base_url=BASE_URL, sandbox=True, max_body_bytes=64 * 1024,
                  millennium=settings())


@pytest.fixture
def placed(client, inbox, fixed_clock, tenant):
    place_in_millennium(client, inbox)
    tenant.clock = fixed_clock  # Millennium's `received` and our poll window on one clock
    return inbox


def poller(app) -> Poller:
    state = app.extensions["mc"]
    return Poller(state, state.registry.derived["millennium"])


def _category(communication: dict) -> str:
    return communication["category"][0]["coding"][0]["code"]


def _focus(client, task: dict) -> dict:
    answer = client.get(f"/fhir/{task['focus']['reference']}")
    assert answer.status_code == 200
    return answer.get_json()


def _links(app) -> list:
    with app.extensions["mc"].sessions.begin() as session:
        return session.execute(select(MillenniumLink.__table__)).all()


def _case_start_in_millennium(client, inbox, app, tenant) -> tuple[dict, dict]:
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], category="case-start",
                                sent_by=inbox.personal(MARIA), topic={"text": "Vårdplanering"}))
    assert sent.status_code == 201, sent.get_json()
    assert worker(app).run_once() == 1
    [created] = tenant.stored()
    return sent.get_json(), created


def test_a_reply_from_a_millennium_user_comes_back_to_the_municipal_case_and_its_poll(client, placed, app, tenant, fixed_clock):
    ours, created = _case_start_in_millennium(client, placed, app, tenant)
    fixed_clock.now += timedelta(minutes=3)
    reply = tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], text="Vi tar emot patienten på fredag.",
                         in_response_to=created["id"], topic=created["topic"]["text"])
    fixed_clock.now += timedelta(seconds=30)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.refused, polled.unfinished) == (1, 0, [])
    [case] = items(client, placed.shared(ALFA))
    [answer] = [t for t in items(client, placed.shared(KOMMUN_A)) if t["focus"]["reference"] != f"Communication/{ours['id']}"]
    communication = _focus(client, answer)
    assert _category(communication) == CASE_MESSAGE
    assert communication["sender"] == {"reference": placed.shared(ALFA)}  # the pool Anna answered from (MC-R38) ...
    sent_by = [e for e in communication["extension"] if e["url"].endswith("/sent-by")]
    assert sent_by[0]["valueReference"] == {"reference": placed.personal(ANNA)}  # ... and Anna herself
    assert communication["partOf"] == [{"reference": f"Task/{case['id']}"}]
    assert communication["inResponseTo"] == [{"reference": f"Communication/{ours['id']}"}]
    assert communication["topic"] == {"text": "Vårdplanering"}  # our marker is not shown back
    assert communication["payload"] == [{"contentString": "Vi tar emot patienten på fredag."}]
    assert communication["identifier"][0]["value"] == reply
    assert tenant.communications[reply].email_status == "completed"
    # The municipality's system sees it in its poll of the samverkan inbox.
    polled_items = search(client, f"Task?owner={placed.shared(KOMMUN_A)}&code=message")
    assert [t["id"] for t in polled_items] == [answer["id"]]
    assert poller(app).poll_once().imported == 0


def test_a_new_message_from_a_millennium_pool_starts_a_case_in_the_municipal_inbox(client, placed, app, tenant, fixed_clock):
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text="Ny vårdplanering",
                 topic="Utskrivning")
    fixed_clock.now += timedelta(seconds=5)
    assert poller(app).poll_once().imported == 1
    [case] = items(client, placed.shared(KOMMUN_A))
    assert case["code"]["coding"][0]["code"] == "case"
    communication = _focus(client, case)
    assert _category(communication) == "case-start" and communication["sender"] == {"reference": placed.shared(ALFA)}


def test_a_personal_message_to_a_municipality_is_refused_and_its_sender_told_the_rule(client, placed, app, tenant, fixed_clock):
    written = tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], text="Direkt från min inkorg")
    fixed_clock.now += timedelta(seconds=5)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.refused) == (0, 1)
    assert items(client, placed.shared(KOMMUN_A)) == []  # MC-R7: not imported
    [link] = _links(app)
    assert (link.millennium_id, link.direction, link.outcome) == (written, "in", "refused MC-R7")
    assert tenant.communications[written].email_status == "completed"
    [row] = rows(app)
    assert row.kind == "millennium-communication"
    assert worker(app).run_once() == 1
    [notice] = [c for c in tenant.stored() if c["id"] != written]
    assert notice["recipient"] == [{"reference": f"Practitioner/{ANNA_MID}"}]
    assert notice["sender"] == {"reference": f"Practitioner/{INTEGRATION}"}
    assert _category(notice) == "alert" and "(MC-R7)" in notice["topic"]["text"]
    text = tenant.text_of(notice["id"])
    assert "Ditt meddelande kunde inte levereras." in text and "Regel: MC-R7" in text
    assert len(_links(app)) == 1  # the notice is not a message of ours that a reply could answer
    [refusal] = _extract(app, client, f"agent={placed.personal(ANNA)}")  # audited as Anna's
    assert refusal["outcome"] == "4" and written in refusal["outcomeDesc"] and "MC-R7" in refusal["outcomeDesc"]
    assert poller(app).poll_once().refused == 0  # once


def test_a_millennium_user_the_directory_does_not_know_is_refused(client, placed, app, tenant, fixed_clock):
    tenant.add_practitioner("12724999")
    tenant.write(sender="12724999", recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text="Hej")
    fixed_clock.now += timedelta(seconds=5)
    assert poller(app).poll_once().refused == 1
    assert _links(app)[0].outcome == "refused MC-R1"


def _extract(app, client, query: str) -> list[dict]:
    answer = client.get(f"/fhir/AuditEvent?{query}&_count=100", headers=bearer(app, hsa_id=REVISOR))
    assert answer.status_code == 200, answer.get_json()
    return [e["resource"] for e in answer.get_json().get("entry", [])]


def test_a_patient_is_named_by_personnummer_and_import_and_refusal_are_audited(client, placed, app, tenant, fixed_clock):
    saved = tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, subject=PATIENT_MID,
                         text="Om patienten\nSpara till journal: ja")
    unsaved = tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, subject=PATIENT_MID,
                           text="Om patienten, inte sparat")
    fixed_clock.now += timedelta(seconds=5)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.refused) == (1, 1)
    [case] = items(client, placed.shared(KOMMUN_A))
    communication = _focus(client, case)
    assert communication["subject"]["identifier"]["value"] == PERSONNUMMER["value"]
    assert communication["identifier"][0]["value"] == saved
    assert any(e["url"].endswith("/save-to-journal") and e["valueBoolean"] for e in communication["extension"])
    events = _extract(app, client, f"patient={PERSONNUMMER['system']}|{PERSONNUMMER['value']}")
    created = [e for e in events if e["outcome"] == "0" and e["action"] == "C"]
    assert created and created[0]["agent"][0]["who"]["reference"] == placed.personal(ANNA)
    refused = [e for e in events if e["outcome"] == "4"]
    assert len(refused) == 1 and unsaved in refused[0]["outcomeDesc"] and "MC-R8" in refused[0]["outcomeDesc"]
    worker(app).run_once()
    [notice] = [c for c in tenant.stored() if c["id"] not in (saved, unsaved)]
    assert "Spara till journal: ja" in tenant.text_of(notice["id"])  # what the sender can do about it


def test_a_window_with_more_than_a_thousand_is_split_and_each_message_imported_once(client, placed, app, tenant, fixed_clock):
    start = fixed_clock.now
    for n in range(1_000):  # one second holds a thousand: split down to it, then drained
        tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text=f"nr {n}",
                     received=start + timedelta(seconds=10))
    for n in range(150):
        tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text=f"sen {n}",
                     received=start + timedelta(seconds=20 + n))
    fixed_clock.now = start + timedelta(minutes=10)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.refused, polled.unfinished) == (1_150, 0, [])
    assert polled.splits >= 1
    answer = client.get(f"/fhir/Task?owner={placed.shared(KOMMUN_A)}&_summary=count").get_json()
    assert answer["total"] == 1_150
    assert len({link.communication_id for link in _links(app)}) == 1_150
    assert all(c.email_status == "completed" for c in tenant.communications.values())
    assert poller(app).poll_once().imported == 0


def test_the_cursor_is_stored_overlaps_its_last_window_and_survives_a_restart(client, placed, app, tenant, fixed_clock):
    first = poller(app)
    assert first.poll_once().imported == 0
    with app.extensions["mc"].sessions.begin() as session:
        cursors = session.execute(select(MillenniumCursor.__table__)).all()
    assert {(c.group_id, c.category) for c in cursors} >= {(KOMMUN_A_GROUP, "notification"), (KOMMUN_B_GROUP, "notification")}
    # Millennium stamps a message a little before the last poll's end, and shows it only now.
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_B_GROUP}"], reply_to=ALFA_GROUP, text="Sent stämplat",
                 received=fixed_clock.now - timedelta(seconds=40))
    fixed_clock.now += timedelta(seconds=30)
    assert poller(app).poll_once().imported == 1  # a new poller: the cursor came from the database
    assert len(items(client, placed.shared(KOMMUN_B))) == 1


def test_a_transient_failure_keeps_the_cursor_and_the_next_poll_imports(client, placed, app, tenant, fixed_clock):
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text="Hej")
    tenant.inject("binary", "503")
    fixed_clock.now += timedelta(seconds=5)
    polled = poller(app).poll_once()
    assert polled.imported == 0 and f"Group/{KOMMUN_A_GROUP}:notification" in polled.unfinished
    fixed_clock.now += timedelta(hours=2)  # longer than the overlap: only the kept cursor finds it again
    assert poller(app).poll_once().imported == 1


def test_a_failed_patch_is_repeated_without_importing_twice(client, placed, app, tenant, fixed_clock):
    written = tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text="Hej")
    tenant.inject("patch", "500")
    fixed_clock.now += timedelta(seconds=5)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.patch_failures) == (1, 1)
    assert tenant.communications[written].email_status == "received"
    fixed_clock.now += timedelta(seconds=30)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.seen, polled.completed) == (0, 1, 1)
    assert tenant.communications[written].email_status == "completed"
    assert len(items(client, placed.shared(KOMMUN_A))) == 1


def test_a_message_to_two_mirrored_groups_is_imported_once_for_both(client, placed, app, tenant, fixed_clock):
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}", f"Group/{KOMMUN_B_GROUP}"], reply_to=ALFA_GROUP,
                 text="Till båda")
    fixed_clock.now += timedelta(seconds=5)
    polled = poller(app).poll_once()
    assert polled.imported + polled.refused == 1 and len(_links(app)) == 1
    if polled.imported:
        assert len(items(client, placed.shared(KOMMUN_A))) == len(items(client, placed.shared(KOMMUN_B))) == 1


def test_nothing_of_the_text_or_the_personnummer_is_logged(client, placed, app, tenant, fixed_clock, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Hemlig text om patientens hälsa"
    ours = send(client, message(placed.shared(KOMMUN_A), [placed.shared(ALFA)], category="case-start",
                                sent_by=placed.personal(MARIA), patient=True, save=True,
                                payload=[{"contentString": secret}]))
    assert ours.status_code == 201, ours.get_json()
    tenant.inject("create", "drop-after-store")
    for _ in range(3):
        worker(app).run_once()
        fixed_clock.now += timedelta(minutes=5)
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], text=secret, subject=PATIENT_MID)
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text=secret, subject=PATIENT_MID)
    fixed_clock.now += timedelta(seconds=5)
    poller(app).poll_once()
    worker(app).run_once()
    assert caplog.records
    assert secret not in caplog.text and PERSONNUMMER["value"] not in caplog.text


def test_a_malformed_message_is_refused_and_does_not_stop_the_others(client, placed, app, tenant, fixed_clock):
    broken = tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text="Trasig")
    tenant.communications[broken].resource["topic"] = {"text": 12}  # what no Millennium should answer
    fixed_clock.now += timedelta(seconds=1)
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text="Hel")
    fixed_clock.now += timedelta(seconds=5)
    polled = poller(app).poll_once()
    assert (polled.imported, polled.refused, polled.unfinished) == (1, 1, [])
    assert {link.outcome for link in _links(app)} == {"imported", "refused structure"}


def test_two_pollers_at_once_import_each_message_once(client, placed, app, tenant, fixed_clock, postgresql_only):
    import threading

    start = fixed_clock.now
    for n in range(200):
        tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], reply_to=ALFA_GROUP, text=f"nr {n}",
                     received=start + timedelta(seconds=n % 20))
    fixed_clock.now = start + timedelta(minutes=1)
    results, errors = [], []

    def poll():
        try:
            results.append(poller(app).poll_once())
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and len(results) == 2
    assert sum(r.imported for r in results) == 200 and all(r.refused == 0 for r in results)
    assert client.get(f"/fhir/Task?owner={placed.shared(KOMMUN_A)}&_summary=count").get_json()["total"] == 200
    assert len(_links(app)) == 200
