"""End to end: `mc-adapter serve` and `mc-adapter worker` against the Millennium emulator as a real server."""

import json
import os
import time

import pytest
import requests

from adapter.identifiers import BASE, HSA_ID, INBOX_ID, MILLENNIUM_GROUP, MILLENNIUM_PRACTITIONER
from tests.conftest import empty_tables
from tests.e2e.processes import cli, free_port, log_tail, spawn, wait_until_serving
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, MARIA, message
from tests.integration.millennium_helpers import ALFA_GROUP, ANNA_MID, INTEGRATION, KOMMUN_A_GROUP, PRIVATE_JWK, emulator

pytestmark = pytest.mark.e2e
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def deployment(tmp_path, database_url):
    """The emulator on a port of its own; the adapter's server and worker configured for it as for a tenant."""
    tenant = emulator(sleep_seconds=2.5)
    tenant_base = tenant.serve()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({
        "MC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "MC_MILLENNIUM_BASE_URL": f"{tenant_base}/r4", "MC_MILLENNIUM_TOKEN_URL": f"{tenant_base}/token",
        "MC_MILLENNIUM_CLIENT_ID": "mc-adapter", "MC_MILLENNIUM_PRIVATE_JWK": json.dumps(PRIVATE_JWK),
        "MC_MILLENNIUM_INTEGRATION_PRACTITIONER": INTEGRATION, "MC_MILLENNIUM_POLL_SECONDS": "1",
        "MC_OUTBOUND_READ_TIMEOUT": "1",
    })
    if database_url.startswith("postgresql"):
        env["MC_DATABASE_URL"] = database_url
    server = spawn(["serve", "--sandbox", "--port", str(port), "--workers", "1", "--no-worker"], env=env, cwd=tmp_path, name="serve")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(server, base)
    worker = spawn(["worker", "--threads", "2"], env=env, cwd=tmp_path, name="worker")
    operator = cli("token", "--operator", env=env, cwd=tmp_path)
    yield {"base": base, "auth": {"Authorization": f"Bearer {operator}", **FHIR}, "tenant": tenant, "worker": worker,
           "workdir": tmp_path}
    for process in (worker, server):
        process.terminate()
    for process in (worker, server):
        process.wait(30)
    tenant.stop()
    if database_url.startswith("postgresql"):
        empty_tables(database_url)


def _first(base: str, auth: dict, query: str) -> dict:
    bundle = requests.get(f"{base}/fhir/{query}", headers=auth, timeout=10).json()
    return next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match")


def _identify(base: str, auth: dict, resource: dict, system: str, value: str) -> None:
    resource.setdefault("identifier", []).append({"system": system, "value": value})
    answer = requests.put(f"{base}/fhir/{resource['resourceType']}/{resource['id']}", json=resource, timeout=10,
                          headers={**auth, "If-Match": f'W/"{resource["meta"]["versionId"]}"'})
    assert answer.status_code == 200, answer.text


def _until(predicate, what: str, process, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout} s; worker log: {log_tail(process)}")


def test_a_case_goes_to_millennium_once_through_a_lost_answer_and_the_reply_comes_back(deployment):
    base, auth, tenant, worker = deployment["base"], deployment["auth"], deployment["tenant"], deployment["worker"]
    anna = _first(base, auth, f"Practitioner?identifier={HSA_ID}|{ANNA}")
    alfa = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{ALFA}%23samverkan")
    kommun_a = _first(base, auth, f"HealthcareService?identifier={INBOX_ID}|{KOMMUN_A}%23samverkan")
    maria = _first(base, auth, f"Practitioner?identifier={HSA_ID}|{MARIA}")
    _identify(base, auth, anna, MILLENNIUM_PRACTITIONER, ANNA_MID)
    _identify(base, auth, alfa, MILLENNIUM_GROUP, ALFA_GROUP)
    _identify(base, auth, kommun_a, MILLENNIUM_GROUP, KOMMUN_A_GROUP)
    tenant.inject("create", "timeout-after-store")  # Millennium stores it, the answer never comes
    sent = requests.post(f"{base}/fhir/Communication", headers=auth, timeout=10, json=message(
        f"HealthcareService/{kommun_a['id']}", [f"HealthcareService/{alfa['id']}"], category="case-start",
        sent_by=f"Practitioner/{maria['id']}", topic={"text": "Vårdplanering"}))
    assert sent.status_code == 201, sent.text
    case = _first(base, auth, f"Task?owner=HealthcareService/{alfa['id']}")
    delivered = f"{BASE}/StructureDefinition/delivery-state"

    def case_delivered():
        task = requests.get(f"{base}/fhir/Task/{case['id']}", headers=auth, timeout=10).json()
        return any(e.get("url") == delivered and e["valueCode"] == "delivered" for e in task.get("extension", []))

    _until(case_delivered, "the retry after the lost answer", worker, timeout=120)
    [created] = tenant.stored()  # once, though the first answer was lost
    assert tenant.counters.creates == 1 and tenant.counters.searches >= 1  # the retry looked for its marker first
    assert created["topic"]["text"] == f"Vårdplanering [mc:{sent.json()['id']}]"
    tenant.write(sender=ANNA_MID, recipients=[f"Group/{KOMMUN_A_GROUP}"], text="Välkommen på fredag.",
                 in_response_to=created["id"], topic=created["topic"]["text"])

    def reply_polled():
        bundle = requests.get(f"{base}/fhir/Task?owner=HealthcareService/{kommun_a['id']}&code=message", headers=auth,
                              timeout=10).json()
        return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]

    [reply] = _until(reply_polled, "the reply's import", worker)
    communication = requests.get(f"{base}/fhir/{reply['focus']['reference']}", headers=auth, timeout=10).json()
    assert communication["sender"] == {"reference": f"HealthcareService/{alfa['id']}"}
    assert communication["partOf"] == [{"reference": f"Task/{case['id']}"}]
    _until(lambda: all(c.email_status == "completed" for c in tenant.communications.values() if c.id != created["id"]),
           "the email-status patch", worker)
    with open(worker.log_path, encoding="utf-8") as log:
        logged = log.read()
    assert "Välkommen på fredag" not in logged and "Hej! Synthetic test message." not in logged
