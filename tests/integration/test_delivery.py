"""Delivery through the outbox: written with the message, delivered by a worker, retried, dead letters told."""

from datetime import timedelta

import pytest
import responses
from sqlalchemy import func, select

from adapter.delivery.outbox import Delivery, enqueue
from adapter.fhir.models import ResourceRow
from tests.helpers import bearer, issue, post, put, search
from tests.integration.delivery_helpers import RECEIVER, attempts, endpoint, push_to, rows, state_of, worker
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, KOMMUN_B, MARIA, items, message, send

POSTED = f"{RECEIVER}/Communication"


@pytest.fixture
def pushed(client, inbox, sandbox, fixed_clock):
    """Kommun B's samverkan inbox has an Endpoint; Kommun A writes to it and to Alfa (no Endpoint)."""
    push_to(client, inbox.shared(KOMMUN_B))
    return inbox


def _send_to_kommun_b(client, inbox, **extra):
    response = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA), inbox.shared(KOMMUN_B)],
                                    sent_by=inbox.personal(MARIA), **extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_message_to_a_pushed_inbox_has_its_outbox_row_when_it_is_stored(client, pushed, app):
    sent = _send_to_kommun_b(client, pushed)
    [row] = rows(app)
    assert (row.kind, row.state, row.message, row.recipient) == (
        "fhir-communication", "pending", f"Communication/{sent['id']}", pushed.shared(KOMMUN_B))
    [kommun_item] = items(client, pushed.shared(KOMMUN_B))
    [alfa_item] = items(client, pushed.shared(ALFA))
    assert row.item_id == kommun_item["id"] and state_of(kommun_item) == "pending"
    assert state_of(alfa_item) is None  # Alfa has no Endpoint: it reads its inbox here


def test_a_refused_message_leaves_no_outbox_row(client, pushed, app):
    response = send(client, message(pushed.shared(KOMMUN_A), [pushed.shared(KOMMUN_B), pushed.personal(ANNA)],
                                    sent_by=pushed.personal(MARIA)))
    assert response.status_code == 422
    assert rows(app) == []


def test_an_outbox_row_exists_exactly_when_its_transaction_commits(app):
    state = app.extensions["mc"]
    with state.sessions() as session:
        enqueue(session, deliveries=[Delivery("fhir-communication", "journal", {"resourceType": "Communication"})], now=state.clock())
        session.rollback()
    assert rows(app) == []
    with state.sessions.begin() as session:
        enqueue(session, deliveries=[Delivery("fhir-communication", "journal", {"resourceType": "Communication"})], now=state.clock())
    assert len(rows(app)) == 1


@responses.activate
def test_the_worker_delivers_once_with_the_idempotency_key_and_the_item_shows_it(client, pushed, app):
    sent = _send_to_kommun_b(client, pushed)
    responses.post(POSTED, status=201, headers={"Location": f"{RECEIVER}/Communication/x/_history/1"})
    assert worker(app).run_once() == 1
    assert worker(app).run_once() == 0
    [row] = rows(app)
    assert row.state == "delivered"
    [call] = responses.calls
    assert call.request.headers["X-Request-Id"] == row.id
    assert call.request.headers["If-None-Exist"] == "identifier=urn:example:sender-system|" + sent["identifier"][0]["value"]
    assert call.request.headers["Content-Type"] == "application/fhir+json"
    body = call.request.body
    assert b'"resourceType":"Communication"' in body and b'"meta"' not in body
    [kommun_item] = items(client, pushed.shared(KOMMUN_B))
    assert state_of(kommun_item) == "delivered"


@responses.activate
def test_a_transient_failure_waits_for_retry_after_and_then_delivers(client, pushed, app, fixed_clock):
    _send_to_kommun_b(client, pushed)
    responses.post(POSTED, status=503, headers={"Retry-After": "120"})
    responses.post(POSTED, status=201)
    assert worker(app).run_once() == 1
    [row] = rows(app)
    assert row.state == "pending" and row.last_reason == "HTTP 503"
    fixed_clock.now += timedelta(seconds=60)
    assert worker(app).run_once() == 0  # not before Retry-After
    fixed_clock.now += timedelta(seconds=61)
    assert worker(app).run_once() == 1
    assert rows(app)[0].state == "delivered"
    assert [(a.number, a.outcome, a.status) for a in attempts(app, row.id)] == [(1, "transient", 503), (2, "delivered", 201)]


@responses.activate
def test_a_permanent_failure_is_a_dead_letter_and_the_sender_gets_a_delivery_failure_item(client, pushed, app):
    sent = _send_to_kommun_b(client, pushed, patient=True, save=True)
    responses.post(POSTED, status=422, json={"resourceType": "OperationOutcome", "issue": []})
    worker(app).run_once()
    [row] = rows(app)
    assert row.state == "dead" and row.last_reason == "HTTP 422: refused by the receiver"
    assert row.payload  # the dead letter keeps what was to be delivered
    [kommun_item] = items(client, pushed.shared(KOMMUN_B))
    assert state_of(kommun_item) == "failed"
    [failure] = search(client, f"Task?owner={pushed.shared(KOMMUN_A)}&code=delivery-failure")
    assert failure["focus"] == {"reference": f"Communication/{sent['id']}"}
    inputs = {i["type"]["coding"][0]["code"]: i for i in failure["input"]}
    assert inputs["recipient"]["valueReference"] == {"reference": pushed.shared(KOMMUN_B)}
    assert inputs["reason"]["valueString"] == "HTTP 422: refused by the receiver"
    assert failure["for"] == sent["subject"]  # about the same patient, so the sender's audit trail shows it
    assert "191212121212" not in row.last_reason and all("191212121212" not in a.reason for a in attempts(app, row.id))


@responses.activate
def test_retries_end_at_the_horizon(client, pushed, app, fixed_clock):
    _send_to_kommun_b(client, pushed)
    responses.post(POSTED, status=502)
    deadline = fixed_clock.now + timedelta(hours=24, minutes=20)
    runs = 0
    while rows(app)[0].state != "dead" and fixed_clock.now < deadline:
        worker(app).run_once()
        runs += 1
        fixed_clock.now += timedelta(minutes=15)
    [row] = rows(app)
    assert row.state == "dead" and row.last_reason.startswith("gave up after")
    assert 90 <= len(attempts(app, row.id)) <= runs  # about every 15 minutes for 24 hours, then told
    assert len(search(client, f"Task?owner={pushed.shared(KOMMUN_A)}&code=delivery-failure")) == 1


@responses.activate
def test_a_worker_that_stopped_mid_delivery_loses_nothing_and_a_late_record_cannot_overwrite(client, pushed, app, fixed_clock):
    _send_to_kommun_b(client, pushed)
    responses.post(POSTED, status=201)
    first, second = worker(app, "first"), worker(app, "second")
    [claimed] = first.claim(10)  # ... and then the first worker stops before delivering
    assert second.claim(10) == []  # claimed: nobody else takes it during the lease
    fixed_clock.now += timedelta(seconds=app.extensions["mc"].config.delivery_lease_seconds + 1)
    assert second.run_once() == 1
    assert rows(app)[0].state == "delivered"
    assert first.record(claimed, first.attempt(claimed), 5) is None  # its claim is gone: nothing overwritten
    assert rows(app)[0].state == "delivered"
    assert [(a.number, a.worker, a.outcome) for a in attempts(app, claimed.id)] == [
        (1, "first", "delivered"), (2, "second", "delivered")]


@responses.activate
def test_every_attempt_is_audited_without_its_body(client, pushed, app):
    sent = _send_to_kommun_b(client, pushed, patient=True, save=True)
    responses.post(POSTED, status=500)
    worker(app).run_once()
    events = search(client, f"AuditEvent?entity=Communication/{sent['id']}", bearer(app, hsa_id="SE2321000131-P000000009002"))
    [attempt] = [e for e in events if "attempt 1" in e.get("outcomeDesc", "")]
    assert attempt["outcome"] == "4" and "transient (HTTP 500)" in attempt["outcomeDesc"]
    assert attempt["agent"][0]["who"] == {"display": "adapter"}
    assert "Synthetic test message" not in str(attempt)


@responses.activate
def test_a_recipients_update_keeps_the_delivery_state_the_adapter_set(client, pushed, app):
    _send_to_kommun_b(client, pushed)
    [stale] = items(client, pushed.shared(KOMMUN_B))
    responses.post(POSTED, status=201)
    worker(app).run_once()
    stale["status"] = "in-progress"
    assert put(client, f"Task/{stale['id']}", stale, {"If-Match": 'W/"1"'}).status_code == 412  # the delivery made version 2
    [task] = items(client, pushed.shared(KOMMUN_B))
    task["status"] = "in-progress"
    task["extension"] = [{"url": e["url"], "valueCode": "failed"} for e in task["extension"]]  # forged
    response = put(client, f"Task/{task['id']}", task, {"If-Match": f'W/"{task["meta"]["versionId"]}"'})
    assert response.status_code == 200, response.get_json()
    assert state_of(response.get_json()) == "delivered" and response.get_json()["status"] == "in-progress"


@responses.activate
def test_a_switched_off_endpoint_is_not_pushed_and_a_deleted_destination_is_a_permanent_failure(client, pushed, app):
    _send_to_kommun_b(client, pushed)
    [service] = search(client, f"HealthcareService?_id={pushed.shared(KOMMUN_B).split('/')[1]}")
    endpoint_id = service["endpoint"][0]["reference"].split("/")[1]
    current = client.get(f"/fhir/Endpoint/{endpoint_id}").get_json()
    current["status"] = "off"
    assert put(client, f"Endpoint/{endpoint_id}", current).status_code == 200
    worker(app).run_once()  # queued while it was active: the destination is read when delivering
    assert rows(app)[0].state == "dead" and "is off, not active" in rows(app)[0].last_reason
    _send_to_kommun_b(client, pushed)
    assert len(rows(app)) == 1  # no longer pushed: Kommun B polls
    assert len(responses.calls) == 0


@pytest.mark.parametrize("change, expression", [
    ({"header": ["Authorization: Bearer secret"]}, "Endpoint.header"),
    ({"address": "https://10.0.0.7/fhir"}, "Endpoint.address"),
    ({"address": "https://169.254.169.254/latest/meta-data"}, "Endpoint.address"),
    ({"address": "http://kommun-b.example.test/fhir"}, "Endpoint.address"),
    ({"connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "direct-project"}},
     "Endpoint.connectionType"),
    ({"payloadMimeType": ["application/xml"]}, "Endpoint.payloadMimeType"),
])
def test_an_endpoint_with_credentials_an_internal_address_or_another_protocol_is_refused(client, sandbox, app, change, expression):
    response = post(client, "Endpoint", {**endpoint(), **change})
    assert response.status_code == 422 and issue(response)["expression"] == [expression]
    with app.extensions["mc"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(ResourceRow).where(ResourceRow.resource_type == "Endpoint")) == 0


def test_only_forvaltning_writes_endpoints(app, client, sandbox):
    nurse = bearer(app, hsa_id="SE2321000131-P000000001003", unit=ALFA)
    assert post(client, "Endpoint", endpoint(), nurse).status_code == 403


@responses.activate
def test_a_flagged_message_is_forwarded_to_the_configured_journal_with_its_credentials(config, clean_database):
    from adapter.app import create_app
    from tests.helpers import operator_client
    from tests.integration.messaging_helpers import Sandbox, ANNA, JON
    from adapter.cli import sandbox_directory_path
    from adapter.directory.loader import adapter_context, load_directory

    journal = {"journal": {"url": "https://ehr.example.test/fhir", "headers": {"Authorization": "Bearer journal-secret"}}}
    app = create_app(config.with_overrides(destinations=journal))
    state = app.extensions["mc"]
    load_directory(path=sandbox_directory_path(), make_context=lambda: adapter_context(state))
    client = operator_client(app)
    inbox = Sandbox(client)
    sent = send(client, message(inbox.personal(ANNA), [inbox.personal(JON)], patient=True, save=True)).get_json()
    assert send(client, message(inbox.personal(ANNA), [inbox.personal(JON)])).status_code == 201  # not flagged: not forwarded
    responses.post("https://ehr.example.test/fhir/Communication", status=201)
    [row] = rows(app)
    assert (row.destination, row.message) == ("journal", f"Communication/{sent['id']}")
    worker(app).run_once()
    assert responses.calls[0].request.headers["Authorization"] == "Bearer journal-secret"
    assert rows(app)[0].state == "delivered"
    app.extensions["mc"].engine.dispose()


@responses.activate
def test_operators_see_the_outbox_and_retry_dead_letters_in_the_admin_api(client, pushed, app):
    _send_to_kommun_b(client, pushed)
    responses.post(POSTED, status=400)
    worker(app).run_once()
    status = client.get("/admin/outbox").get_json()
    assert status["totals"] == {"dead": 1}
    [dead] = client.get("/admin/outbox/dead-letters").get_json()
    assert dead["attempts"][0]["status"] == 400 and "payload" not in dead
    destination = dead["destination"]
    nurse = bearer(app, hsa_id="SE2321000131-P000000001003", unit=ALFA)
    assert client.get("/admin/outbox", headers=nurse).status_code == 403
    responses.replace(responses.POST, POSTED, status=201)
    assert client.post(f"/admin/outbox/retry?destination={destination}").get_json() == {"requeued": [dead["id"]]}
    [kommun_item] = items(client, pushed.shared(KOMMUN_B))
    assert state_of(kommun_item) == "pending"
    worker(app).run_once()
    assert client.get("/admin/outbox").get_json()["totals"] == {"delivered": 1}
    assert client.post(f"/admin/outbox/dead-letters/{dead['id']}/retry").status_code == 404
    assert client.post("/admin/outbox/dead-letters/not-a-uuid/retry").status_code == 404
    assert client.post("/admin/outbox/retry").status_code == 422


def test_the_openapi_document_describes_the_outbox(client):
    paths = client.get("/admin/openapi.json").get_json()["paths"]
    assert {"/admin/outbox", "/admin/outbox/dead-letters", "/admin/outbox/retry"} <= set(paths)


def test_a_created_reminder_cannot_claim_a_delivery_state(client, sandbox, inbox, app):
    from adapter.identifiers import BASE

    reminder = {"resourceType": "Task", "status": "requested", "intent": "order",
                "code": {"coding": [{"system": f"{BASE}/CodeSystem/item-kind", "code": "reminder"}]},
                "owner": {"reference": inbox.personal(ANNA)}, "restriction": {"period": {"end": "2026-12-01T09:00:00Z"}},
                "extension": [{"url": f"{BASE}/StructureDefinition/delivery-state", "valueCode": "delivered"}]}
    response = post(client, "Task", reminder, bearer(app, hsa_id=ANNA, unit=ALFA))
    assert response.status_code == 422 and issue(response)["expression"] == ["Task.extension"]


@responses.activate
def test_the_outbox_commands_report_and_retry(client, pushed, app, database_url, monkeypatch):
    import json

    from click.testing import CliRunner

    from adapter.cli import main

    _send_to_kommun_b(client, pushed)
    responses.post(POSTED, status=410)
    worker(app).run_once()
    monkeypatch.setenv("MC_DATABASE_URL", database_url)
    runner = CliRunner()
    status = runner.invoke(main, ["outbox", "status"])
    assert status.exit_code == 0 and json.loads(status.output)["totals"] == {"dead": 1}
    dead = json.loads(runner.invoke(main, ["outbox", "dead-letters"]).output)
    assert dead[0]["attempts"][0]["reason"] == "HTTP 410: refused by the receiver"
    assert runner.invoke(main, ["outbox", "retry"]).exit_code == 2  # an id or --all-for
    assert runner.invoke(main, ["outbox", "retry", "00000000-0000-0000-0000-000000000000"]).exit_code == 1
    retried = runner.invoke(main, ["outbox", "retry", "--all-for", dead[0]["destination"]])
    assert json.loads(retried.output) == {"requeued": [dead[0]["id"]]}
    assert rows(app)[0].state == "pending"
