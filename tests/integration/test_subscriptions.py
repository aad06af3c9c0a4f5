"""Subscriptions (the R5 Backport IG's R4 form): handshake, events in feed order, $status and $events, errors, security."""

import json
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from adapter.subscriptions import backport
from adapter.subscriptions.models import SubscriptionState
from adapter.subscriptions.notifier import notify_once
from tests.helpers import FHIR_JSON, bearer, search
from tests.integration.delivery_helpers import rows, worker
from tests.integration.messaging_helpers import ALFA, KOMMUN_A, KOMMUN_B, MARIA, items, message, send

HOOK = "https://receiver.example.test/hook"
SECRET = "Bearer receiver-secret-123"


def subscription(owner: str, *, endpoint: str = HOOK, content: str = "id-only", extra_filter: str = "", **changes) -> dict:
    resource = {
        "resourceType": "Subscription", "status": "requested", "reason": "Kommunens system vill bli meddelat",
        "criteria": backport.TOPIC,
        "_criteria": {"extension": [{"url": backport.FILTER_CRITERIA, "valueString": f"Task?owner={owner}{extra_filter}"}]},
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                    "_payload": {"extension": [{"url": backport.PAYLOAD_CONTENT, "valueCode": content}]},
                    "header": [f"Authorization: {SECRET}"],
                    "extension": [{"url": backport.HEARTBEAT_PERIOD, "valueUnsignedInt": 60}]},
    }
    resource.update(changes)
    return resource


@pytest.fixture
def receiver():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add(responses.POST, HOOK, status=200)
        yield mocked


def _received(receiver) -> list[dict]:
    return [json.loads(call.request.body) for call in receiver.calls if call.request.url == HOOK]


def _status(bundle: dict) -> dict:
    return {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"] if p["name"] != "notification-event"}


def _event_numbers(bundle: dict) -> list[int]:
    return [int(part["valueString"]) for p in bundle["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event"
            for part in p["part"] if part["name"] == "event-number"]


def _subscribe(client, inbox, owner_unit=KOMMUN_B, **options) -> dict:
    answer = client.post("/fhir/Subscription", json=subscription(inbox.shared(owner_unit), **options), headers=FHIR_JSON)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _message_to_b(client, inbox) -> None:
    sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(KOMMUN_B)], sent_by=inbox.personal(MARIA)))
    assert sent.status_code == 201, sent.get_json()


def test_a_subscription_is_handshaken_then_active_and_its_header_is_never_served(client, inbox, app, receiver):
    created = _subscribe(client, inbox)
    assert created["status"] == "requested" and "header" not in created["channel"]
    assert worker(app).run_once() == 1
    [handshake] = _received(receiver)
    assert receiver.calls[0].request.headers["Authorization"] == SECRET
    assert handshake["type"] == "history" and _status(handshake)["type"]["valueCode"] == "handshake"
    assert _status(handshake)["events-since-subscription-start"]["valueString"] == "0"
    read = client.get(f"/fhir/Subscription/{created['id']}").get_json()
    assert read["status"] == "active" and "header" not in read["channel"]
    assert SECRET not in json.dumps(client.get(f"/fhir/Subscription/{created['id']}/_history").get_json())
    assert all(SECRET not in row.payload for row in rows(app))  # the outbox (operators read dead letters) has none


def test_a_subscription_asking_for_a_shorter_timeout_is_notified_with_it(client, inbox, app, receiver):
    resource = subscription(inbox.shared(KOMMUN_B))
    resource["channel"]["extension"].append({"url": backport.TIMEOUT, "valueUnsignedInt": 3})
    assert client.post("/fhir/Subscription", json=resource, headers=FHIR_JSON).status_code == 201
    worker(app).run_once()
    connect, read = receiver.calls[0].request.req_kwargs["timeout"]
    assert read == 3 and connect == app.extensions["mc"].config.outbound_connect_timeout


def test_events_are_numbered_consecutively_in_feed_order_and_pushed(client, inbox, app, receiver):
    created = _subscribe(client, inbox, content="full-resource")
    worker(app).run_once()
    for _ in range(3):
        _message_to_b(client, inbox)
    notified = notify_once(app.extensions["mc"])
    assert notified.events == 3 and notified.notifications == 1
    worker(app).run_once()
    [_, notification] = _received(receiver)
    assert _status(notification)["type"]["valueCode"] == "event-notification"
    assert _event_numbers(notification) == [1, 2, 3]
    assert _status(notification)["events-since-subscription-start"]["valueString"] == "3"
    assert notification["entry"][0]["resource"]["meta"]["profile"] == [backport.STATUS_PROFILE]
    tasks = [e["resource"] for e in notification["entry"][1:]]
    assert [t["owner"]["reference"] for t in tasks] == [inbox.shared(KOMMUN_B)] * 3
    status = client.get(f"/fhir/Subscription/{created['id']}/$status").get_json()
    assert _status({"entry": [status["entry"][0]]})["events-since-subscription-start"]["valueString"] == "3"
    assert notify_once(app.extensions["mc"]).events == 0  # each change once


def test_missed_events_are_recovered_with_events(client, inbox, app, receiver):
    created = _subscribe(client, inbox)
    worker(app).run_once()
    for _ in range(4):
        _message_to_b(client, inbox)
    notify_once(app.extensions["mc"])
    answer = client.get(f"/fhir/Subscription/{created['id']}/$events?eventsSinceNumber=2&eventsUntilNumber=3")
    assert answer.status_code == 200, answer.get_json()
    bundle = answer.get_json()
    assert _status(bundle)["type"]["valueCode"] == "query-event" and _event_numbers(bundle) == [2, 3]
    assert [e["fullUrl"].rsplit("/", 2)[1] for e in bundle["entry"][1:]] == ["Task", "Task"]


def test_each_event_carries_the_task_as_its_change_left_it(client, inbox, app, receiver):
    created = _subscribe(client, inbox, content="full-resource")
    _message_to_b(client, inbox)
    notify_once(app.extensions["mc"])
    [task] = items(client, inbox.shared(KOMMUN_B))
    opened = client.patch(f"/fhir/Task/{task['id']}", json=[{"op": "replace", "path": "/status", "value": "in-progress"}],
                          headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'})
    assert opened.status_code == 200, opened.get_json()
    notify_once(app.extensions["mc"])
    bundle = client.get(f"/fhir/Subscription/{created['id']}/$events?eventsSinceNumber=1&eventsUntilNumber=2").get_json()
    assert _event_numbers(bundle) == [1, 2]
    tasks = [e["resource"] for e in bundle["entry"][1:]]
    assert [(t["id"], t["meta"]["versionId"], t["status"]) for t in tasks] == [
        (task["id"], "1", task["status"]), (task["id"], "2", "in-progress")]


def test_only_the_inbox_filtered_and_its_codes_make_events(client, inbox, app, receiver):
    _subscribe(client, inbox, extra_filter="&code=delivery-failure")
    worker(app).run_once()
    _message_to_b(client, inbox)
    send(client, message(inbox.shared(KOMMUN_B), [inbox.shared(KOMMUN_A)], sent_by=inbox.personal("SE2120000002-P000000003101")))
    assert notify_once(app.extensions["mc"]).events == 0


def test_repeated_failures_show_error_and_the_next_success_recovers(client, inbox, app, receiver, fixed_clock):
    created = _subscribe(client, inbox)
    worker(app).run_once()
    receiver.replace(responses.POST, HOOK, status=503)
    _message_to_b(client, inbox)
    notify_once(app.extensions["mc"])
    for _ in range(3):
        worker(app).run_once()
        fixed_clock.now += timedelta(minutes=20)
    read = client.get(f"/fhir/Subscription/{created['id']}").get_json()
    assert read["status"] == "error" and "failed notifications" in read["error"]
    receiver.replace(responses.POST, HOOK, status=200)
    worker(app).run_once()
    assert client.get(f"/fhir/Subscription/{created['id']}").get_json()["status"] == "active"


@pytest.mark.parametrize(("change", "expected"), [
    ({"criteria": "https://example.org/SubscriptionTopic/other"}, "Subscription.criteria"),
    ({"channel": {"type": "websocket", "payload": "application/fhir+json"}}, "Subscription.channel.type"),
    ({"channel": {"type": "rest-hook", "endpoint": HOOK, "payload": "application/fhir+xml"}}, "Subscription.channel.payload"),
    ({"channel": {"type": "rest-hook", "endpoint": "https://127.0.0.1/hook", "payload": "application/fhir+json"}}, "loopback"),
    ({"_criteria": {"extension": [{"url": backport.FILTER_CRITERIA, "valueString": "Task?code=message"}]}}, "exactly one inbox"),
    ({"_criteria": {"extension": [{"url": backport.FILTER_CRITERIA, "valueString": "Task?owner=HealthcareService/x&colour=red"}]}},
     "no filter 'colour'"),
])
def test_a_subscription_we_cannot_serve_is_422_and_nothing_is_stored(client, inbox, app, change, expected):
    answer = client.post("/fhir/Subscription", json=subscription(inbox.shared(KOMMUN_B), **change), headers=FHIR_JSON)
    assert answer.status_code == 422, answer.get_json()
    assert expected in json.dumps(answer.get_json())
    assert search(client, "Subscription") == [] and rows(app) == []


def test_a_client_cannot_subscribe_to_another_organisations_inbox(client, inbox, app):
    kommun_a = bearer(app, client="kommun-a-system", org=KOMMUN_A)
    answer = client.post("/fhir/Subscription", json=subscription(inbox.shared(ALFA)), headers={**FHIR_JSON, **kommun_a})
    assert answer.status_code == 422 and "not an inbox the caller can see" in json.dumps(answer.get_json())
    own = client.post("/fhir/Subscription", json=subscription(inbox.shared(KOMMUN_A)), headers={**FHIR_JSON, **kommun_a})
    assert own.status_code == 201, own.get_json()
    other = bearer(app, client="kommun-b-system", org=KOMMUN_B)
    assert client.get(f"/fhir/Subscription/{own.get_json()['id']}", headers=other).status_code == 404
    assert client.get(f"/fhir/Subscription/{own.get_json()['id']}/$status", headers=other).status_code == 404


def test_plain_http_endpoints_are_refused_outside_the_sandbox(client, inbox, app):
    from adapter.subscriptions.service import check_endpoint
    from adapter.errors import UnprocessableResource

    class Ctx:
        config = app.extensions["mc"].config.__class__(database_url="sqlite://", sandbox=False)

    with pytest.raises(UnprocessableResource):
        check_endpoint(Ctx(), "http://receiver.example.test/hook")
    check_endpoint(Ctx(), "https://receiver.example.test/hook")


def test_a_subscriber_who_loses_sight_of_the_inbox_is_stopped(client, inbox, app, receiver):
    kommun_b = bearer(app, client="kommun-b-system", org=KOMMUN_B)
    created = client.post("/fhir/Subscription", json=subscription(inbox.shared(KOMMUN_B)), headers={**FHIR_JSON, **kommun_b})
    assert created.status_code == 201, created.get_json()
    worker(app).run_once()
    with app.extensions["mc"].sessions.begin() as session:  # the client's registration now names another organisation
        state = session.execute(select(SubscriptionState).where(SubscriptionState.id == created.get_json()["id"])).scalar_one()
        subscriber = json.loads(state.subscriber)
        subscriber["organization_hsa_id"] = KOMMUN_A
        state.subscriber = json.dumps(subscriber)
    _message_to_b(client, inbox)
    assert notify_once(app.extensions["mc"]).stopped == 1
    assert client.get(f"/fhir/Subscription/{created.get_json()['id']}").get_json()["status"] == "off"


def test_ten_writers_committing_out_of_order_give_consecutive_events_in_feed_order(client, inbox, app, postgresql_only):
    import threading

    from adapter.inbox.models import InboxItem
    from adapter.subscriptions.models import SubscriptionEvent
    from tests.helpers import operator_client

    created = _subscribe(client, inbox)
    sender, recipient, maria = inbox.shared(KOMMUN_A), inbox.shared(KOMMUN_B), inbox.personal(MARIA)
    done = threading.Event()
    errors = []

    def write():
        writer = operator_client(app)
        for _ in range(20):
            answer = send(writer, message(sender, [recipient], sent_by=maria))
            if answer.status_code != 201:
                errors.append(answer.status_code)

    def notify():
        while not done.is_set():
            notify_once(app.extensions["mc"])

    writers = [threading.Thread(target=write) for _ in range(10)]
    notifier = threading.Thread(target=notify)
    notifier.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    notifier.join(60)
    notify_once(app.extensions["mc"])
    assert errors == []
    with app.extensions["mc"].sessions() as session:
        events = session.execute(select(SubscriptionEvent.number, SubscriptionEvent.task_id)
                                 .where(SubscriptionEvent.subscription_id == created["id"]).order_by(SubscriptionEvent.number)).all()
        feed = session.execute(select(InboxItem.task_id).where(InboxItem.owner == recipient)
                               .order_by(InboxItem.feed_xid, InboxItem.feed_pos)).scalars().all()
    assert [n for n, _ in events] == list(range(1, 201))  # no gap, no repeat
    assert [t for _, t in events] == feed  # in the feed's commit order


def test_the_capability_statement_names_the_topic_and_the_backport_server(client):
    statement = client.get("/fhir/metadata").get_json()
    assert backport.SERVER_CAPABILITY in statement["instantiates"]
    [entry] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert {"url": backport.TOPIC_CAPABILITY, "valueCanonical": backport.TOPIC} in entry["extension"]
    assert {op["name"] for op in entry["operation"]} >= {"status", "events"}


def test_a_quiet_subscription_gets_heartbeats_at_its_period(client, inbox, app, receiver, fixed_clock):
    created = _subscribe(client, inbox)  # heartbeat period 60 s
    worker(app).run_once()
    assert notify_once(app.extensions["mc"]).heartbeats == 0
    fixed_clock.now += timedelta(seconds=61)
    assert notify_once(app.extensions["mc"]).heartbeats == 1
    assert notify_once(app.extensions["mc"]).heartbeats == 0  # one per period
    worker(app).run_once()
    heartbeat = _received(receiver)[-1]
    assert _status(heartbeat)["type"]["valueCode"] == "heartbeat"
    assert _status(heartbeat)["subscription"]["valueReference"]["reference"].endswith(f"/Subscription/{created['id']}")


def test_the_topic_is_published_as_the_backport_shows_for_r4(client):
    [topic] = search(client, "Basic?code=SubscriptionTopic")
    assert client.get("/fhir/Basic/inbox-item").get_json()["id"] == topic["id"] == "inbox-item"
    urls = [e.get("valueUri") for e in topic["extension"] if e["url"].endswith("SubscriptionTopic.url")]
    assert urls == [backport.TOPIC]
    filters = [p["valueString"] for e in topic["extension"] if e["url"].endswith(".canFilterBy")
               for p in e["extension"] if p["url"] == "filterParameter"]
    assert filters == ["owner", "code", "status"]


def test_a_subscriber_ends_its_subscription_by_setting_it_off_and_nothing_more_goes_out(client, inbox, app, receiver):
    created = _subscribe(client, inbox)
    worker(app).run_once()
    current = client.get(f"/fhir/Subscription/{created['id']}").get_json()
    changed = client.put(f"/fhir/Subscription/{created['id']}", json={**current, "reason": "annat"},
                         headers={**FHIR_JSON, "If-Match": f'W/"{current["meta"]["versionId"]}"'})
    assert changed.status_code == 422, changed.get_json()
    ended = client.put(f"/fhir/Subscription/{created['id']}", json={**current, "status": "off"},
                       headers={**FHIR_JSON, "If-Match": f'W/"{current["meta"]["versionId"]}"'})
    assert ended.status_code == 200, ended.get_json()
    assert ended.get_json()["status"] == "off"
    _message_to_b(client, inbox)
    assert notify_once(app.extensions["mc"]).events == 0
