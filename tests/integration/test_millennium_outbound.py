"""Outbound to Millennium: one Communication per message under the API contract, faults end in one or a dead letter."""

import base64

import pytest

from adapter.config import Config
from tests.conftest import BASE_URL
from tests.helpers import search
from tests.integration.delivery_helpers import rows, state_of, worker
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, MARIA, items, message, send
from tests.integration.millennium_helpers import (ALFA_GROUP, INTEGRATION, KOMMUN_A_GROUP, PATIENT_MID, place_in_millennium,
                                                  settings, tenant)  # noqa: F401  (tenant is a fixture)


@pytest.fixture
def config(database_url) -> Config:
    return Config(database_url=database_url, public_base_url=BASE_URL, sandbox=True, max_body_bytes=64 * 1024,
                  millennium=settings())


@pytest.fixture
def placed(client, inbox, fixed_clock):
    place_in_millennium(client, inbox)
    return inbox


def _case_start(client, inbox, **extra) -> dict:
    answer = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], category="case-start",
                                  sent_by=inbox.personal(MARIA), **extra))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _text(tenant, communication) -> str:
    return tenant.text_of(communication["id"])


def test_a_municipal_case_start_reaches_the_millennium_pool_once_naming_the_inbox_and_the_user(client, placed, app, tenant):
    sent = _case_start(client, placed, topic={"text": "Vårdplanering"})
    [row] = rows(app)
    assert (row.kind, row.destination, row.state) == ("millennium-communication", "millennium", "pending")
    [case_item] = items(client, placed.shared(ALFA))
    assert state_of(case_item) == "pending"
    assert worker(app).run_once() == 1
    [created] = tenant.stored()
    assert created["recipient"] == [{"reference": f"Group/{ALFA_GROUP}"}]
    assert created["sender"] == {"reference": f"Practitioner/{INTEGRATION}"}  # the sender is outside Millennium
    assert created["category"][0]["coding"][0]["code"] == "notification"
    assert created["topic"]["text"] == f"Vårdplanering [mc:{sent['id']}]"
    reply_to = [e for e in created["extension"] if e["url"].endswith("/reply-to")]
    assert reply_to[0]["valueReference"] == {"reference": f"Group/{KOMMUN_A_GROUP}"}
    text = _text(tenant, created)
    assert "Från: Exempelkommun hemsjukvård" in text and "#samverkan" in text  # MC-R38: the shared inbox ...
    assert "Skickat av: " in text and "SE2120000001-P000000003002" in text  # ... and the user who sent
    assert "Hej! Synthetic test message." in text
    assert rows(app)[0].state == "delivered"
    [case_item] = items(client, placed.shared(ALFA))
    assert state_of(case_item) == "delivered"
    assert worker(app).run_once() == 0 and len(tenant.stored()) == 1


def test_a_patient_message_carries_the_millennium_patient_and_high_priority_becomes_urgent(client, placed, app, tenant):
    _case_start(client, placed, patient=True, save=True, priority="asap")
    worker(app).run_once()
    [created] = tenant.stored()
    assert created["subject"] == {"reference": f"Patient/{PATIENT_MID}"}
    assert created["priority"] == "urgent"
    assert "Spara till journal: ja" in _text(tenant, created)
    assert "191212121212" not in created["topic"]["text"]


def test_a_patient_millennium_does_not_know_is_a_dead_letter_and_the_sender_is_told(client, placed, app, tenant):
    tenant.patients.clear()
    sent = _case_start(client, placed, patient=True, save=True)
    worker(app).run_once()
    [row] = rows(app)
    assert row.state == "dead" and "not known in Millennium" in row.last_reason
    assert tenant.stored() == []
    [failure] = search(client, f"Task?owner={placed.shared(KOMMUN_A)}&code=delivery-failure")
    assert failure["focus"] == {"reference": f"Communication/{sent['id']}"}
    [case_item] = items(client, placed.shared(ALFA))
    assert state_of(case_item) == "failed"


def test_messages_to_inboxes_outside_millennium_write_no_millennium_row(client, placed, app, tenant):
    answer = send(client, message(placed.shared(KOMMUN_A), [placed.shared("SE2120000002-E000000000302")],
                                  sent_by=placed.personal(MARIA)))
    assert answer.status_code == 201, answer.get_json()
    assert [r.kind for r in rows(app)] == []


def test_an_attachment_millennium_cannot_hold_is_refused_upstream_and_told(client, placed, app, tenant):
    pdf = {"contentAttachment": {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-1.4").decode()}}
    _case_start(client, placed, payload=[pdf])
    worker(app).run_once()
    [row] = rows(app)
    assert row.state == "dead" and "one text attachment" in row.last_reason
    assert tenant.stored() == []


def _deliver_until_settled(app, fixed_clock, runs: int = 6) -> str:
    from datetime import timedelta

    for _ in range(runs):
        worker(app).run_once()
        state = rows(app)[0].state
        if state in ("delivered", "dead"):
            return state
        fixed_clock.now += timedelta(minutes=5)
    return rows(app)[0].state


@pytest.mark.parametrize("fault", ["500", "503", "429", "timeout", "timeout-after-store", "drop-after-store", "expire-token"])
def test_each_fault_ends_in_exactly_one_millennium_communication(client, placed, app, tenant, fixed_clock, fault):
    sent = _case_start(client, placed)
    tenant.inject("create", fault)
    assert _deliver_until_settled(app, fixed_clock) == "delivered"
    [created] = tenant.stored()
    assert created["topic"]["text"].endswith(f"[mc:{sent['id']}]")
    if fault == "expire-token":  # renewed once after the 401, in the same attempt
        assert tenant.counters.tokens == 2 and len(rows(app)) == 1
    [case_item] = items(client, placed.shared(ALFA))
    assert state_of(case_item) == "delivered"


def test_a_lost_answer_is_found_by_its_marker_and_not_sent_again(client, placed, app, tenant, fixed_clock):
    _case_start(client, placed)
    tenant.inject("create", "drop-after-store")
    worker(app).run_once()
    [row] = rows(app)
    assert row.state == "pending" and row.last_reason == "connection failed or dropped"
    assert len(tenant.stored()) == 1  # Millennium has it; the adapter does not know yet
    creates = tenant.counters.creates
    _deliver_until_settled(app, fixed_clock)
    assert tenant.counters.creates == creates and len(tenant.stored()) == 1
    assert rows(app)[0].last_reason == "already in Millennium: an earlier attempt's answer was lost"


def test_a_contract_violation_is_a_dead_letter_not_a_retry(client, placed, app, tenant, fixed_clock):
    tenant.groups.discard(ALFA_GROUP)  # Millennium no longer knows the pool: 422
    _case_start(client, placed)
    assert _deliver_until_settled(app, fixed_clock) == "dead"
    assert rows(app)[0].last_reason == "HTTP 422: Millennium refused the POST"
    assert len(search(client, f"Task?owner={placed.shared(KOMMUN_A)}&code=delivery-failure")) == 1


def test_a_message_from_a_millennium_user_is_sent_as_that_user(client, placed, app, tenant):
    answer = send(client, message(placed.personal(ANNA), [placed.shared(ALFA)], topic={"text": "Till poolen"}))
    assert answer.status_code == 201, answer.get_json()
    worker(app).run_once()
    [created] = tenant.stored()
    assert created["sender"] == {"reference": "Practitioner/12724066"}
    assert "extension" not in created or all(not e["url"].endswith("/reply-to") for e in created["extension"])
