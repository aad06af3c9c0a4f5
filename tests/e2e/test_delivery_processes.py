"""End to end: `mc-adapter serve` and `mc-adapter worker` as processes push a message to a local receiver."""

import os
import time

import pytest
import requests

from adapter.bench.receiver import Receiver
from adapter.identifiers import BASE, HSA_ID, INBOX_ID
from tests.conftest import empty_tables
from tests.e2e.processes import cli, free_port, spawn, wait_until_serving
from tests.integration.delivery_helpers import endpoint, state_of
from tests.integration.messaging_helpers import KOMMUN_A, KOMMUN_B, MARIA, message

pytestmark = pytest.mark.e2e
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(params=["separate worker", "worker inside serve"])
def adapter(request, tmp_path, database_url):
    """A served sandbox adapter that may push to 127.0.0.1, with a worker as its own process or inside `serve` (SQLite)."""
    embedded = request.param == "worker inside serve"
    if embedded and database_url.startswith("postgresql"):
        pytest.skip("serve runs a worker itself on the embedded default (SQLite) only")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({"MC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1"})
    if database_url.startswith("postgresql"):
        env["MC_DATABASE_URL"] = database_url
    serve = ["serve", "--sandbox", "--port", str(port), "--workers", "1"]
    processes = [spawn(serve + ([] if embedded else ["--no-worker"]), env=env, cwd=tmp_path, name="serve")]
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(processes[0], base)
    if not embedded:
        processes.append(spawn(["worker"], env=env, cwd=tmp_path, name="worker"))
    operator = cli("token", "--operator", env=env, cwd=tmp_path)
    receiver = Receiver().start()
    yield {"base": base, "auth": {"Authorization": f"Bearer {operator}", **FHIR}, "receiver": receiver}
    receiver.stop()
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(30)
    if database_url.startswith("postgresql"):
        empty_tables(database_url)


def _first(base: str, auth: dict, query: str) -> dict:
    answer = requests.get(f"{base}/fhir/{query}", headers=auth, timeout=10)
    bundle = answer.json()
    assert answer.status_code == 200 and "entry" in bundle, (query, answer.status_code, bundle)
    return next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match")


def test_a_message_to_an_inbox_with_an_endpoint_reaches_its_system_within_a_second(adapter):
    base, auth, receiver = adapter["base"], adapter["auth"], adapter["receiver"]
    created = requests.post(f"{base}/fhir/Endpoint", json=endpoint(receiver.url), headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    kommun_b = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_B}%23samverkan")
    kommun_b["endpoint"] = [{"reference": f"Endpoint/{created.json()['id']}"}]
    updated = requests.put(f"{base}/fhir/HealthcareService/{kommun_b['id']}", json=kommun_b,
                           headers={**auth, "If-Match": f'W/"{kommun_b["meta"]["versionId"]}"'}, timeout=10)
    assert updated.status_code == 200, updated.text
    kommun_a = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_A}%23samverkan")
    maria = _first(base, auth, f"Practitioner?identifier={HSA_ID}|{MARIA}")
    sent = requests.post(f"{base}/fhir/Communication", headers=auth, timeout=10, json=message(
        f"HealthcareService/{kommun_a['id']}", [f"HealthcareService/{kommun_b['id']}"], sent_by=f"Practitioner/{maria['id']}"))
    assert sent.status_code == 201, sent.text
    committed = time.time()
    deadline = time.monotonic() + 10
    while not receiver.counts and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sum(receiver.counts.values()) == 1
    latency = next(iter(receiver.first_seen.values())) - committed
    assert latency < 2.0, latency  # within about a second (the SQLite worker looks every 0.5 s; PostgreSQL is told)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        item = _first(base, auth, f"Task?owner=HealthcareService/{kommun_b['id']}&code={BASE}/CodeSystem/item-kind|message")
        if state_of(item) == "delivered":
            break
        time.sleep(0.1)
    assert state_of(item) == "delivered"


def test_an_asynchronous_message_is_answered_at_its_response_url_by_the_worker(adapter):
    base, auth, receiver = adapter["base"], adapter["auth"], adapter["receiver"]
    kommun_a = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_A}%23samverkan")
    kommun_b = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_B}%23samverkan")
    maria = _first(base, auth, f"Practitioner?identifier={HSA_ID}|{MARIA}")
    focus = message(f"HealthcareService/{kommun_a['id']}", [f"HealthcareService/{kommun_b['id']}"], sent_by=f"Practitioner/{maria['id']}")
    bundle = {"resourceType": "Bundle", "type": "message", "entry": [
        {"fullUrl": "urn:uuid:e2e-header", "resource": {
            "resourceType": "MessageHeader", "id": "e2e-header",
            "eventCoding": {"system": f"{BASE}/CodeSystem/message-event", "code": "new-message"},
            "sender": {"identifier": {"system": HSA_ID, "value": KOMMUN_A}}, "source": {"endpoint": receiver.url},
            "focus": [{"reference": "urn:uuid:e2e-focus"}]}},
        {"fullUrl": "urn:uuid:e2e-focus", "resource": focus}]}
    accepted = requests.post(f"{base}/fhir/$process-message?async=true&response-url={receiver.url}/$process-message",
                             json=bundle, headers=auth, timeout=10)
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 10
    while not receiver.counts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(receiver.counts.values()) == 1
