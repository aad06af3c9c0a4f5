"""Two `mc-adapter serve` instances and two `mc-adapter worker` processes on one PostgreSQL (issue #18).

Clients spread their messages over both instances, retrying a message on the other instance
(same identifier, so never a second message) when one fails; in the middle, instance A is
killed (SIGKILL) and started again. Afterwards: every message routed once, every delivery made
once per idempotency key, and a poll of the recipients' inbox gives the same items through
either instance. The figures are printed (`pytest -s`) for the closing note.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from adapter.bench.receiver import Receiver
from adapter.identifiers import HSA_ID, INBOX_ID
from tests.conftest import empty_tables
from tests.e2e.processes import cli, free_port, spawn, wait_until_serving
from tests.integration.delivery_helpers import endpoint
from tests.integration.messaging_helpers import KOMMUN_A, KOMMUN_B, MARIA, message

pytestmark = pytest.mark.e2e
FHIR = {"Content-Type": "application/fhir+json"}
MESSAGES = 120
KILL_AFTER = 40
BACK_BY = 80  # messages from here on wait for A to be back: the last third is spread over both again
SYSTEM = "urn:e2e:multi-instance"


class Instance:
    """One `mc-adapter serve` on a fixed port, which can be killed and started again."""

    def __init__(self, env: dict, cwd, *, sandbox: bool):
        self.env, self.cwd, self.port = env, cwd, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sandbox = sandbox
        self.process = None

    def start(self) -> "Instance":
        command = ["serve", "--port", str(self.port), "--workers", "1"] + (["--sandbox"] if self.sandbox else [])
        # Its own process group: a kill takes gunicorn's master and workers together, as a crashed host would.
        self.process = spawn(command, env=self.env, cwd=self.cwd, name=f"serve-{self.port}", start_new_session=True)
        wait_until_serving(self.process, self.base)
        return self

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # graceful: in-flight requests finish
            self.process.wait(40)


@pytest.fixture
def cluster(tmp_path, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share one PostgreSQL; the embedded SQLite default is one process")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({"MC_DATABASE_URL": database_url, "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1", "MC_SANDBOX": "true",
                "MC_PUBLIC_BASE_URL": "http://127.0.0.1:8080"})  # one public base for both, as behind a proxy
    first = Instance(env, tmp_path, sandbox=True).start()  # loads the sandbox directory once
    second = Instance(env, tmp_path, sandbox=True).start()
    workers = [spawn(["worker", "--name", f"w{i}"], env=env, cwd=tmp_path, name=f"worker-{i}") for i in (1, 2)]
    receiver = Receiver().start()
    operator = cli("token", "--operator", "--minutes", "30", env=env, cwd=tmp_path)
    yield {"instances": [first, second], "receiver": receiver, "auth": {"Authorization": f"Bearer {operator}", **FHIR}}
    receiver.stop()
    for worker in workers:
        worker.terminate()
    for instance in (first, second):
        instance.stop()
    for worker in workers:
        worker.wait(40)
    empty_tables(database_url)


def _first(base: str, auth: dict, query: str) -> dict:
    bundle = requests.get(f"{base}/fhir/{query}", headers=auth, timeout=10).json()
    return next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match")


def _send_until_accepted(instances, auth, body, start: int, tries: list) -> int:
    """Post on one instance; on a dropped connection or a 5xx, the same message on the next. The final status."""
    for attempt in range(40):
        base = instances[(start + attempt) % 2].base
        try:
            response = requests.post(f"{base}/fhir/Communication", json=body, headers=auth, timeout=15)
            tries.append(response.status_code)
            if response.status_code < 500:
                return response.status_code
        except requests.RequestException:
            tries.append(0)
        time.sleep(0.1)
    return 0


def _poll_all(instances, auth, owner: str) -> list[str]:
    """Follow `next` to the end, alternating instances page by page; the item ids in order."""
    seen, url, page = [], f"/fhir/Task?owner={owner}&_count=25", 0
    while url:
        bundle = requests.get(instances[page % 2].base + url, headers=auth, timeout=10).json()
        seen += [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = following[0].removeprefix("http://127.0.0.1:8080") if following else None
        page += 1
    return seen


def test_two_instances_and_two_workers_route_and_deliver_every_message_once_through_a_restart(cluster):
    instances, auth, receiver = cluster["instances"], cluster["auth"], cluster["receiver"]
    a = instances[0].base
    created = requests.post(f"{a}/fhir/Endpoint", json=endpoint(receiver.url), headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    kommun_b = _first(a, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_B}%23samverkan")
    kommun_b["endpoint"] = [{"reference": f"Endpoint/{created.json()['id']}"}]
    assert requests.put(f"{a}/fhir/HealthcareService/{kommun_b['id']}", json=kommun_b, timeout=10,
                        headers={**auth, "If-Match": f'W/"{kommun_b["meta"]["versionId"]}"'}).status_code == 200
    kommun_a = _first(a, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_A}%23samverkan")
    maria = _first(a, auth, f"Practitioner?identifier={HSA_ID}|{MARIA}")
    bodies = [message(f"HealthcareService/{kommun_a['id']}", [f"HealthcareService/{kommun_b['id']}"],
                      sent_by=f"Practitioner/{maria['id']}", identifier=f"multi-{n}-{uuid.uuid4().hex[:8]}") for n in range(MESSAGES)]
    for body in bodies:
        body["identifier"][0]["system"] = SYSTEM
    tries: list[int] = []
    accepted: list[int] = []
    killed, back = threading.Event(), threading.Event()
    started = time.monotonic()

    def restart() -> None:
        instances[0].start()
        back.set()

    def send(n: int) -> None:
        if n == KILL_AFTER and not killed.is_set():
            killed.set()
            instances[0].kill()  # in the middle of the traffic; clients fail over to B
            threading.Thread(target=restart, daemon=True).start()  # and A comes back
        if n >= BACK_BY:
            assert back.wait(60), "instance A did not come back"
        accepted.append(_send_until_accepted(instances, auth, bodies[n], n, tries))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, range(MESSAGES)))
    sending_seconds = time.monotonic() - started
    assert sorted(set(accepted)) in ([200, 201], [201]), accepted  # 200: a retry answered with the first

    deadline = time.monotonic() + 60
    while len(receiver.counts) < MESSAGES and time.monotonic() < deadline:
        time.sleep(0.2)
    b = instances[1].base
    counted = requests.get(f"{b}/fhir/Communication?identifier={SYSTEM}|&_summary=count", headers=auth, timeout=10).json()
    via_a = _poll_all([instances[0], instances[1]], auth, f"HealthcareService/{kommun_b['id']}")
    via_b = _poll_all([instances[1], instances[0]], auth, f"HealthcareService/{kommun_b['id']}")
    figures = {
        "messages": MESSAGES, "posts": len(tries), "first_tried_on_a_after_restart": (MESSAGES - BACK_BY) // 2, "failed_over": sum(1 for t in tries if t == 0 or t >= 500),
        "answered_200_retry": accepted.count(200), "communications": counted["total"],
        "deliveries_distinct_keys": len(receiver.counts), "deliveries_received": sum(receiver.counts.values()),
        "poll_items_via_a_first": len(via_a), "poll_items_via_b_first": len(via_b), "sending_seconds": round(sending_seconds, 1),
    }
    print("multi-instance figures:", figures)
    assert counted["total"] == MESSAGES  # routed once each: a retry on the other instance found the first
    assert len(receiver.counts) == MESSAGES and max(receiver.counts.values()) == 1  # delivered once per key
    assert len(via_a) == len(set(via_a)) == MESSAGES and set(via_a) == set(via_b)  # polls agree across instances


def test_sigterm_lets_in_flight_requests_finish_and_nothing_is_half_done(tmp_path, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({"MC_SANDBOX": "true", "MC_GRACEFUL_TIMEOUT": "20"})
    if database_url.startswith("postgresql"):
        env["MC_DATABASE_URL"] = database_url
    instance = Instance(env, tmp_path, sandbox=True).start()
    try:
        auth = {"Authorization": "Bearer " + cli("token", "--operator", env=env, cwd=tmp_path), **FHIR}
        base = instance.base
        kommun_a = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_A}%23samverkan")
        kommun_b = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_B}%23samverkan")
        maria = _first(base, auth, f"Practitioner?identifier={HSA_ID}|{MARIA}")
        system = f"urn:e2e:sigterm:{uuid.uuid4().hex[:6]}"
        statuses: list = []

        def post(n: int) -> None:
            body = message(f"HealthcareService/{kommun_a['id']}", [f"HealthcareService/{kommun_b['id']}"],
                           sent_by=f"Practitioner/{maria['id']}", identifier=f"t-{n}")
            body["identifier"][0]["system"] = system
            try:
                statuses.append(requests.post(f"{base}/fhir/Communication", json=body, headers=auth, timeout=30).status_code)
            except requests.RequestException:
                statuses.append(0)  # refused once the server stopped listening: never stored

        threads = [threading.Thread(target=post, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        os.killpg(instance.process.pid, signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert instance.process.wait(30) == 0  # a clean exit within the graceful bound
        assert set(statuses) <= {0, 201}, statuses  # no request was cut off half-way (no 5xx, no reset after accept)
        instance.start()
        counted = requests.get(f"{instance.base}/fhir/Communication?identifier={system}|&_summary=count", headers=auth,
                               timeout=10).json()["total"]
        print("sigterm figures:", {"requests": len(statuses), "answered_201": statuses.count(201),
                                   "refused_after_stop": statuses.count(0), "stored": counted})
        assert counted == statuses.count(201)  # what was answered is stored; what was refused is not
    finally:
        instance.stop()
        if database_url.startswith("postgresql"):
            empty_tables(database_url)
