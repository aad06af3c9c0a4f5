"""Generic FHIR clients from PyPI and npm, unmodified, against `mc-adapter serve --sandbox` (issue #16).

The adapter is served on a free port with no `MC_PUBLIC_BASE_URL`: every link the clients follow
must carry that port. fhirpy (sync and async) and fhirclient run in this process; fhir-kit-client
runs under Node when `node` is installed, and the same script checks every served response with
@medplum/core's `validateResource` (the R4 definitions).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import empty_tables
from tests.e2e.processes import cli, serve_sandbox

pytestmark = pytest.mark.e2e

ANNA = "SE2321000131-P000000001001"
MARIA = "SE2120000001-P000000003002"
ALFA = "SE2321000131-E000000000101"
KOMMUN_A = "SE2120000001-E000000000301"
HSA = "urn:oid:1.2.752.29.4.19"
BASE = "https://meddelandecenter-adapter.github.io/fhir"
INBOX = f"{BASE}/NamingSystem/inbox"
SCOPES = ("system/Task.rs system/Task.u system/Communication.crs system/HealthcareService.rs "
          "system/Organization.rs system/Practitioner.rs")
JS = Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def served(tmp_path_factory, database_url):
    """The sandbox on a free port, links left to follow the bound address."""
    workdir = tmp_path_factory.mktemp("generic-clients")
    process, base, env = serve_sandbox(workdir, database_url, public_base=False)
    yield {"base": base, "fhir": f"{base}/fhir", "env": env, "cwd": workdir,
           "token": lambda *args: cli("token", *args, env=env, cwd=workdir)}
    process.terminate()
    process.wait(30)
    if database_url.startswith("postgresql"):
        empty_tables(database_url)


@pytest.fixture(scope="module")
def backend_client(served):
    """A system client of Kommun A registered with its public key (SMART Backend Services)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    public.update(kid="e2e-key", alg="RS384", use="sig")
    jwks = served["cwd"] / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public]}))
    client_id = cli("client", "add", "--org", KOMMUN_A, "--jwks", str(jwks), "--scopes", SCOPES,
                    env=served["env"], cwd=served["cwd"]).splitlines()[-1].strip()

    def assertion(audience: str) -> str:
        now = datetime.now(timezone.utc)
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": uuid.uuid4().hex, "iat": now,
                  "exp": now + timedelta(minutes=4)}
        return jwt.encode(claims, private, algorithm="RS384", headers={"kid": "e2e-key"})

    return {"id": client_id, "assertion": assertion}


def _message(sender: str, recipient: str, sent_by: str) -> dict:
    return {
        "resourceType": "Communication", "status": "completed",
        "identifier": [{"system": "urn:example:e2e", "value": uuid.uuid4().hex}],
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": "message"}]}],
        "sender": {"reference": sender}, "recipient": [{"reference": recipient}],
        "extension": [{"url": f"{BASE}/StructureDefinition/sent-by", "valueReference": {"reference": sent_by}}],
        "payload": [{"contentString": "Synthetic e2e message."}],
    }


def test_fhirpy_sync_searches_with_includes_counts_pages_creates_reads_and_updates(served):
    from fhirpy import SyncFHIRClient

    operator = served["token"]("--operator")
    client = SyncFHIRClient(served["fhir"], authorization=f"Bearer {operator}")
    inboxes = client.resources("HealthcareService").search(**{"service-type": "unit-samverkan"})
    assert inboxes.count() >= 3
    with_units = inboxes.include("HealthcareService", "organization").limit(2).fetch_raw()
    assert {e["search"]["mode"] for e in with_units["entry"]} >= {"match", "include"}
    assert all(link["url"].startswith(served["fhir"]) for link in with_units["link"])  # the bound port
    every = client.resources("Organization").limit(3).fetch_all()  # follows `next` to the end
    assert len(every) == client.resources("Organization").count() == len({o.id for o in every})
    unit = client.resource("Organization", name="fhirpy-enhet",
                           identifier=[{"system": HSA, "value": "SE2321000131-E000000000801"}],
                           type=[{"coding": [{"system": f"{BASE}/CodeSystem/organization-kind", "code": "municipality"}]}])
    unit.save()
    again, created = client.resources("Organization").search(identifier=f"{HSA}|SE2321000131-E000000000801").get_or_create(
        client.resource("Organization", **{k: v for k, v in unit.serialize().items() if k not in ("id", "meta")}))
    assert not created and again.id == unit.id  # conditional create found the first
    read = client.reference("Organization", unit.id).to_resource()
    read["name"] = "fhirpy-enhet 2"
    read.save()
    assert client.reference("Organization", unit.id).to_resource()["meta"]["versionId"] == "2"


def test_fhirpy_async_polls_a_shared_inbox_with_its_includes_and_updates_a_task_with_if_match(served):
    from fhirpy import AsyncFHIRClient

    nurse = served["token"]("--as", MARIA)
    anna = served["token"]("--as", ANNA, "--unit", ALFA)

    async def run() -> None:
        sender_side = AsyncFHIRClient(served["fhir"], authorization=f"Bearer {nurse}")
        search = sender_side.resources("HealthcareService")
        alfa = await search.search(identifier=f"{INBOX}|{ALFA}#samverkan").get()
        kommun = await search.search(identifier=f"{INBOX}|{KOMMUN_A}#samverkan").get()
        me = await sender_side.resources("Practitioner").search(identifier=f"{HSA}|{MARIA}").get()
        await sender_side.resource("Communication", **_message(f"HealthcareService/{kommun.id}",
                                                               f"HealthcareService/{alfa.id}", f"Practitioner/{me.id}")).save()
        reader = AsyncFHIRClient(served["fhir"], authorization=f"Bearer {anna}")
        poll = await reader.resources("Task").search(owner=f"HealthcareService/{alfa.id}") \
            .include("Task", "owner").include("Task", "focus").fetch_raw()
        modes = [e["search"]["mode"] for e in poll["entry"]]
        assert "match" in modes and "include" in modes
        task = next(e["resource"] for e in poll["entry"] if e["search"]["mode"] == "match")
        task["status"] = "in-progress"
        task["businessStatus"] = {"coding": [{"system": f"{BASE}/CodeSystem/item-status", "code": "opened"}]}
        writer = AsyncFHIRClient(served["fhir"], authorization=f"Bearer {anna}",
                                 extra_headers={"If-Match": f'W/"{task["meta"]["versionId"]}"'})
        saved = await writer.resource("Task", **task).save()
        assert saved["status"] == "in-progress"

    asyncio.run(run())


def test_fhirclient_finds_the_token_endpoint_by_smart_discovery_and_reads_as_a_backend_service(served, backend_client):
    from fhirclient import client as fhirclient
    from fhirclient.models.healthcareservice import HealthcareService

    discovery = requests.get(f"{served['fhir']}/.well-known/smart-configuration", timeout=10)  # no token
    token_uri = discovery.json()["token_endpoint"]
    assert discovery.status_code == 200 and token_uri == f"{served['base']}/auth/token"
    smart = fhirclient.FHIRClient(settings={
        "app_id": backend_client["id"], "api_base": served["fhir"], "scope": SCOPES,
        "jwt_token": backend_client["assertion"](token_uri)})
    smart.prepare()  # reads the CapabilityStatement: SMART's oauth-uris give the token endpoint
    assert type(smart.server.auth).__name__ == "FHIROAuth2Auth" and smart.server.auth._token_uri == token_uri
    smart.authorize()  # client_credentials with the signed assertion
    found = HealthcareService.where(struct={"identifier": f"{INBOX}|{KOMMUN_A}#samverkan"}).perform_resources_iter(smart.server)
    found = list(found)
    assert [s.name for s in found] and found[0].providedBy.reference.startswith("Organization/")


def test_fhir_kit_client_under_node_searches_by_post_and_medplum_finds_every_served_response_valid(served):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the fhir-kit-client and @medplum/core checks need Node.js")
    if not (JS / "node_modules" / "fhir-kit-client").is_dir():
        pytest.fail(f"run `npm ci --prefix {JS}` first (.ci/run does): fhir-kit-client is not installed")
    operator = served["token"]("--operator")
    done = subprocess.run([node, str(JS / "generic_client_check.mjs"), served["fhir"], operator],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["postSearchMatches"] >= 3 and report["capabilityFormats"] == ["application/fhir+json"]
    assert report["checked"] >= 10 and report["invalid"] == [], report["invalid"]
