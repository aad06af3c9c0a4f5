"""End to end: a real receiver subscribed to a samverkan inbox gets the handshake and every event of 1,000 messages
from 10 writers, numbered without gaps; what it missed while it was down, `$events` gives back."""

import os
import threading
import time

import pytest
import requests

from adapter.bench.receiver import RecordingReceiver
from adapter.identifiers import HSA_ID, INBOX_ID
from adapter.subscriptions import backport
from tests.conftest import empty_tables
from tests.e2e.processes import cli, free_port, log_tail, spawn, wait_until_serving
from tests.integration.messaging_helpers import KOMMUN_A, KOMMUN_B, MARIA, message

pytestmark = pytest.mark.e2e
FHIR = {"Content-Type": "application/fhir+json"}
MESSAGES, WRITERS = 1000, 10


def numbered(bundles: list[dict]) -> dict[int, str]:
    found = {}
    for bundle in bundles:
        for parameter in bundle["entry"][0]["resource"]["parameter"]:
            if parameter["name"] == "notification-event":
                parts = {p["name"]: p for p in parameter["part"]}
                found[int(parts["event-number"]["valueString"])] = parts["focus"]["valueReference"]["reference"]
    return found


@pytest.fixture
def adapter(tmp_path, database_url):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({"MC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
                "MC_DELIVERY_BASE_DELAY_SECONDS": "0.5", "MC_DELIVERY_MAX_DELAY_SECONDS": "2"})
    if database_url.startswith("postgresql"):
        env["MC_DATABASE_URL"] = database_url
    server = spawn(["serve", "--sandbox", "--port", str(port), "--workers", "2", "--no-worker"], env=env, cwd=tmp_path, name="serve")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(server, base)
    worker = spawn(["worker"], env=env, cwd=tmp_path, name="worker")
    operator = cli("token", "--operator", env=env, cwd=tmp_path)
    yield {"base": base, "auth": {"Authorization": f"Bearer {operator}", **FHIR}, "worker": worker}
    for process in (worker, server):
        process.terminate()
    for process in (worker, server):
        process.wait(30)
    if database_url.startswith("postgresql"):
        empty_tables(database_url)


def _first(base, auth, query) -> dict:
    answer = requests.get(f"{base}/fhir/{query}", headers=auth, timeout=10)
    assert answer.status_code == 200, answer.text
    return next(e["resource"] for e in answer.json()["entry"] if e["search"]["mode"] == "match")


def _until(predicate, what: str, process, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout} s: {log_tail(process)}")


def test_every_event_arrives_numbered_without_gaps_and_events_recovers_the_missed(adapter):
    base, auth, worker = adapter["base"], adapter["auth"], adapter["worker"]
    hook = RecordingReceiver()
    kommun_a = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_A}%23samverkan")
    kommun_b = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_B}%23samverkan")
    maria = _first(base, auth, f"Practitioner?identifier={HSA_ID}|{MARIA}")
    owner = f"HealthcareService/{kommun_b['id']}"
    created = requests.post(f"{base}/fhir/Subscription", headers=auth, timeout=10, json={
        "resourceType": "Subscription", "status": "requested", "reason": "e2e", "criteria": backport.TOPIC,
        "_criteria": {"extension": [{"url": backport.FILTER_CRITERIA, "valueString": f"Task?owner={owner}"}]},
        "channel": {"type": "rest-hook", "endpoint": hook.url, "payload": "application/fhir+json",
                    "_payload": {"extension": [{"url": backport.PAYLOAD_CONTENT, "valueCode": "id-only"}]}}})
    assert created.status_code == 201, created.text
    subscription = created.json()["id"]

    def status() -> str:
        return requests.get(f"{base}/fhir/Subscription/{subscription}", headers=auth, timeout=10).json()["status"]

    _until(lambda: status() == "active", "the handshake", worker)
    assert hook.received()[0][1]["entry"][0]["resource"]["parameter"][3]["valueCode"] == "handshake"
    failures = []

    def write(n: int):
        session = requests.Session()
        for i in range(MESSAGES // WRITERS):
            if n == 0 and i == 40:
                hook.down = True  # the receiver goes away for a while
            if n == 0 and i == 80:
                hook.down = False
            answer = session.post(f"{base}/fhir/Communication", headers=auth, timeout=30, json=message(
                f"HealthcareService/{kommun_a['id']}", [owner], sent_by=f"Practitioner/{maria['id']}"))
            if answer.status_code != 201:
                failures.append(answer.status_code)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(300)
    hook.down = False
    assert failures == []

    def last_number() -> int:
        bundle = requests.get(f"{base}/fhir/Subscription/{subscription}/$status", headers=auth, timeout=10).json()
        parameters = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
        return int(parameters["events-since-subscription-start"]["valueString"])

    _until(lambda: last_number() == MESSAGES, "numbering every event", worker, timeout=120)
    missing = sorted(set(range(1, MESSAGES + 1)) - set(numbered([body for _, body in hook.received()])))
    _until(lambda: len(numbered([body for _, body in hook.received()])) == MESSAGES, "the retried notifications", worker, timeout=90)
    received = numbered([body for _, body in hook.received()])
    recovered = {}
    for start in range(1, MESSAGES + 1, 500):  # the receiver catches up from its last number
        answer = requests.get(f"{base}/fhir/Subscription/{subscription}/$events?eventsSinceNumber={start}"
                              f"&eventsUntilNumber={start + 499}", headers=auth, timeout=30)
        assert answer.status_code == 200, answer.text
        recovered.update(numbered([answer.json()]))
    assert sorted(recovered) == list(range(1, MESSAGES + 1))  # consecutive: no gap, no repeat
    assert all(recovered[n] == focus for n, focus in received.items())  # what was pushed is what $events says
    assert len(set(recovered.values())) == MESSAGES  # one event per item
    hook.stop()
    print(f"missing when numbering ended: {len(missing)}; pushed in the end: {len(received)}")
