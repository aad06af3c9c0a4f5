"""`$process-message`: a message's focus routed as a RESTful create, reliable answers, asynchronous responses."""

import json

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from adapter.fhir.models import ResourceRow
from adapter.identifiers import BASE, HSA_ID
from adapter.partner.models import ProcessedMessage
from tests.helpers import FHIR_JSON, bearer, search
from tests.integration.delivery_helpers import rows, worker
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, KOMMUN_B, MARIA, message

EVENTS = f"{BASE}/CodeSystem/message-event"


def message_bundle(focus: dict, *, header_id: str = "hdr-1", event: str = "new-message", sender: str = KOMMUN_A,
                   foci: list | None = None, **header_extra) -> dict:
    return {
        "resourceType": "Bundle", "type": "message", "timestamp": "2026-11-24T09:00:00Z",
        "entry": [
            {"fullUrl": f"urn:uuid:{header_id}", "resource": {
                "resourceType": "MessageHeader", "id": header_id, "eventCoding": {"system": EVENTS, "code": event},
                "sender": {"identifier": {"system": HSA_ID, "value": sender}},
                "source": {"endpoint": "https://kommun-a.example.test/fhir"},
                "focus": foci if foci is not None else [{"reference": "urn:uuid:focus-1"}], **header_extra}},
            {"fullUrl": "urn:uuid:focus-1", "resource": focus},
        ],
    }


@pytest.fixture
def kommun_a(app, sandbox):
    """Kommun A's system (a SMART client of the municipality)."""
    return bearer(app, client="kommun-a-system", org=KOMMUN_A)


def _post(client, bundle, headers, query: str = ""):
    return client.post(f"/fhir/$process-message{query}", data=json.dumps(bundle), headers={**FHIR_JSON, **headers})


def _header(response) -> dict:
    return response.get_json().get("entry", [])[0]["resource"]


def _count(app, resource_type: str) -> int:
    with app.extensions["mc"].sessions() as session:
        return session.scalar(select(func.count()).select_from(ResourceRow).where(ResourceRow.resource_type == resource_type))


def _to_alfa(inbox, **extra) -> dict:
    return message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), **extra)


def test_a_message_is_routed_as_a_restful_create_and_answered_ok_with_a_provenance(client, inbox, kommun_a, app):
    response = _post(client, message_bundle(_to_alfa(inbox)), kommun_a)
    assert response.status_code == 200, response.get_json()
    header = _header(response)
    assert header["response"] == {"identifier": "hdr-1", "code": "ok"}
    assert header["destination"] == [{"endpoint": "https://kommun-a.example.test/fhir"}]
    communication = header["focus"][0]["reference"]
    [item] = search(client, f"Task?owner={inbox.shared(ALFA)}")
    assert item["focus"] == {"reference": communication}
    [provenance] = search(client, f"Provenance?target={communication}")
    assert provenance["activity"]["coding"][0]["code"] == "new-message"
    assert provenance["agent"][0]["who"]["identifier"]["value"] == KOMMUN_A


def test_a_repeat_gets_the_first_answer_byte_for_byte_and_creates_nothing(client, inbox, kommun_a, app):
    bundle = message_bundle(_to_alfa(inbox))
    first = _post(client, bundle, kommun_a)
    again = _post(client, bundle, kommun_a)
    assert again.status_code == 200 and again.data == first.data
    assert _count(app, "Communication") == 1 and _count(app, "Provenance") == 1


def test_the_same_message_id_with_other_content_is_a_conflict(client, inbox, kommun_a, app):
    assert _post(client, message_bundle(_to_alfa(inbox, identifier="a")), kommun_a).status_code == 200
    response = _post(client, message_bundle(_to_alfa(inbox, identifier="b")), kommun_a)
    assert response.status_code == 409 and response.get_json()["resourceType"] == "OperationOutcome"
    assert _count(app, "Communication") == 1


def test_a_refused_message_is_a_fatal_error_naming_the_rule_and_nothing_of_it_is_stored(client, inbox, kommun_a, app):
    refused = message(inbox.shared(KOMMUN_A), [inbox.personal(ANNA)], sent_by=inbox.personal(MARIA))
    response = _post(client, message_bundle(refused), kommun_a)
    assert response.status_code == 200
    header = _header(response)
    assert header["response"]["code"] == "fatal-error"
    outcome = response.get_json().get("entry", [])[1]["resource"]
    assert header["response"]["details"]["reference"] == response.get_json().get("entry", [])[1]["fullUrl"]
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "MC-R7"
    assert _count(app, "Communication") == 0 and _count(app, "Task") == 0 and _count(app, "Provenance") == 0
    assert _post(client, message_bundle(refused), kommun_a).data == response.data  # the answer is kept too


def test_a_sender_that_is_not_the_callers_organisation_is_forbidden_and_nothing_is_kept(client, inbox, kommun_a, app):
    response = _post(client, message_bundle(_to_alfa(inbox), sender=KOMMUN_B), kommun_a)
    assert response.status_code == 403
    with app.extensions["mc"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedMessage)) == 0


@pytest.mark.parametrize("change, status, expression", [
    (lambda b: b.update(type="collection"), 400, "Bundle.type"),
    (lambda b: b["entry"].reverse(), 400, "Bundle.entry[0]"),
    (lambda b: b["entry"][0]["resource"].pop("id"), 400, "Bundle.entry[0].resource.id"),
    (lambda b: b.update(entry=[]), 400, "Bundle.entry"),
])
def test_what_is_not_a_message_is_a_400(client, inbox, kommun_a, change, status, expression):
    bundle = message_bundle(_to_alfa(inbox))
    change(bundle)
    response = _post(client, bundle, kommun_a)
    assert response.status_code == status and response.get_json()["issue"][0]["expression"] == [expression]


@pytest.mark.parametrize("header_change, expression", [
    ({"eventCoding": {"system": EVENTS, "code": "no-such-event"}}, "MessageHeader.eventCoding"),
    ({"eventCoding": {"system": "http://example.org/events", "code": "new-message"}}, "MessageHeader.eventCoding"),
    ({"focus": [{"reference": "urn:uuid:missing"}]}, "MessageHeader.focus[0]"),
    ({"focus": [{"reference": "urn:uuid:focus-1"}, {"reference": "urn:uuid:focus-1"}]}, "MessageHeader.focus"),
    ({"eventCoding": {"system": EVENTS, "code": "case-message"}}, "Communication.category"),
    ({"eventCoding": {"system": EVENTS, "code": "result"}}, "MessageHeader.focus[0]"),
])
def test_a_readable_message_with_a_wrong_event_or_focus_is_a_fatal_error_saying_which(client, inbox, kommun_a, app, header_change,
                                                                                     expression):
    bundle = message_bundle(_to_alfa(inbox))
    bundle["entry"][0]["resource"].update(header_change)
    response = _post(client, bundle, kommun_a)
    assert response.status_code == 200 and _header(response)["response"]["code"] == "fatal-error"
    assert response.get_json().get("entry", [])[1]["resource"]["issue"][0]["expression"] == [expression]
    assert _count(app, "Communication") == 0


def test_an_asynchronous_response_url_on_a_private_address_is_answered_at_once_as_a_fatal_error(client, inbox, kommun_a, app):
    response = _post(client, message_bundle(_to_alfa(inbox)), kommun_a, "?async=true&response-url=https://10.0.0.8/fhir/$process-message")
    assert response.status_code == 200 and _header(response)["response"]["code"] == "fatal-error"
    assert "private address" in response.get_json().get("entry", [])[1]["resource"]["issue"][0]["diagnostics"]
    assert _count(app, "Communication") == 0 and rows(app) == []


@responses.activate
def test_an_asynchronous_message_is_accepted_with_202_and_its_response_is_delivered_through_the_outbox(client, inbox, kommun_a, app):
    url = "https://kommun-a.example.test/fhir/$process-message"
    responses.post(url, status=200)
    bundle = message_bundle(_to_alfa(inbox))
    response = _post(client, bundle, kommun_a, f"?async=true&response-url={url}")
    assert response.status_code == 202 and response.data == b""
    assert _count(app, "Communication") == 1  # durable and routed before the 202
    assert _post(client, bundle, kommun_a, f"?async=true&response-url={url}").status_code == 202
    [row] = rows(app)  # the repeat queued nothing
    assert (row.kind, row.destination) == ("message-response", url)
    worker(app).run_once()
    sent = json.loads(responses.calls[0].request.body)
    assert sent["entry"][0]["resource"]["response"] == {"identifier": "hdr-1", "code": "ok"}
    assert responses.calls[0].request.headers["X-Request-Id"] == row.id


def test_the_capability_statement_declares_messaging(client):
    statement = client.get("/fhir/metadata").get_json()
    [messaging] = statement["messaging"]
    assert messaging["endpoint"][0]["address"].endswith("/fhir/$process-message") and messaging["reliableCache"] > 0
    assert {m["definition"].rsplit("/", 1)[1] for m in messaging["supportedMessage"]} == {
        "new-message", "case-message", "result", "task-update"}
    assert {"name": "process-message"}.items() <= statement["rest"][0]["operation"][0].items()


def test_the_official_message_examples_are_refused_cleanly(client, sandbox):
    # Shaped as the R4 examples Bundle/10bb101f-... (a request) and Bundle/bundle-response: a foreign
    # event, and a sender (Organization/1) that is no organisation of ours.
    request = {"resourceType": "Bundle", "id": "10bb101f-a121-4264-a920-67be9cb82c74", "type": "message",
               "timestamp": "2015-07-14T11:15:33+10:00", "entry": [
                   {"fullUrl": "urn:uuid:267b18ce-3d37-4581-9baa-6fada338038b", "resource": {
                       "resourceType": "MessageHeader", "id": "267b18ce-3d37-4581-9baa-6fada338038b",
                       "eventCoding": {"system": "http://example.org/fhir/message-events", "code": "patient-link"},
                       "source": {"endpoint": "llp:10.11.12.13:5432"}, "sender": {"reference": "Organization/1"},
                       "focus": [{"reference": "Patient/example"}]}}]}
    response_bundle = {"resourceType": "Bundle", "id": "3a0707d3-549e-4467-b8b8-5a2ab3800efe", "type": "message",
                       "timestamp": "2015-07-14T11:15:33+10:00", "entry": [
                           {"fullUrl": "urn:uuid:284f3e2e-9a4c-4a6b-9d1b-5c9b3c3ef1b5", "resource": {
                               "resourceType": "MessageHeader", "id": "284f3e2e-9a4c-4a6b-9d1b-5c9b3c3ef1b5",
                               "eventCoding": {"system": "http://example.org/fhir/message-events", "code": "patient-link"},
                               "source": {"endpoint": "http://acme.com/fhir"},
                               "response": {"identifier": "5015fe84-8e76-4526-89d8-44b322e8d4fb", "code": "ok"}}}]}
    for bundle in (request, response_bundle):
        answer = client.post("/fhir/$process-message", data=json.dumps(bundle), headers=FHIR_JSON)
        assert 400 <= answer.status_code < 500 and answer.get_json()["resourceType"] == "OperationOutcome"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=6))
def test_any_interleaving_of_repeats_stores_one_message_each_and_identical_answers(app, client, inbox, kommun_a, order):
    import uuid

    run = uuid.uuid4().hex[:8]  # each example has its own messages
    answers: dict[str, bytes] = {}
    bundles = {k: message_bundle(_to_alfa(inbox, identifier=f"{run}-{k}"), header_id=f"{run}-{k}") for k in "ab"}
    before = _count(app, "Communication")
    for key in order:
        response = _post(client, bundles[key], kommun_a)
        assert response.status_code == 200 and answers.setdefault(key, response.data) == response.data
    with app.extensions["mc"].sessions() as session:
        kept = session.scalar(select(func.count()).select_from(ProcessedMessage).where(ProcessedMessage.message_id.like(f"{run}-%")))
    assert kept == len(set(order)) == _count(app, "Communication") - before


def test_two_identical_deliveries_at_once_store_one_message_and_answer_alike(app, inbox, kommun_a, postgresql_only):
    import threading

    bundle = message_bundle(_to_alfa(inbox, identifier="race"), header_id="race")
    barrier, answers = threading.Barrier(2), []

    def deliver():
        barrier.wait()
        answers.append(_post(app.test_client(), bundle, kommun_a))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200] and answers[0].data == answers[1].data
    assert _count(app, "Communication") == 1
