"""End to end: `mc-adapter serve --sandbox` under gunicorn, tokens from `mc-adapter token`, real HTTP."""

import pytest
import requests

from tests.conftest import empty_tables
from tests.e2e.processes import cli as _cli
from tests.e2e.processes import serve_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory, database_url):
    """A served sandbox adapter on the suite's database engine (a fresh SQLite file, or a PostgreSQL database)."""
    workdir = tmp_path_factory.mktemp("served")
    process, base, env = serve_sandbox(workdir, database_url)
    operator = _cli("token", "--operator", env=env, cwd=workdir)
    yield {"base": base, "env": env, "cwd": workdir, "auth": {"Authorization": f"Bearer {operator}"}}
    process.terminate()
    process.wait(30)
    if database_url.startswith("postgresql"):
        empty_tables(database_url)


def test_serve_on_the_embedded_default_loads_the_sandbox_and_answers_with_links_to_its_public_base(served, database_url):
    if not database_url.startswith("postgresql"):
        assert (served["cwd"] / "mc-adapter.sqlite3").exists()
    assert requests.get(f"{served['base']}/fhir/HealthcareService", timeout=10).status_code == 401  # a token, always
    bundle = requests.get(f"{served['base']}/fhir/HealthcareService?service-type=unit-samverkan&_count=2",
                          headers=served["auth"], timeout=10).json()
    assert len(bundle["entry"]) == 2
    assert all(link["url"].startswith(served["base"] + "/fhir") for link in bundle["link"])


def test_a_sandbox_token_from_the_cli_lets_a_user_read_and_a_forvaltning_user_write(served):
    nurse = _cli("token", "--as", "SE2321000131-P000000001003", "--unit", "SE2321000131-E000000000101", env=served["env"], cwd=served["cwd"])
    admin = _cli("token", "--as", "SE2321000131-P000000009001", env=served["env"], cwd=served["cwd"])
    assert nurse.count(".") == 2 and "\n" not in nurse
    headers = {"Content-Type": "application/fhir+json"}
    unit = {"resourceType": "Organization", "name": "E2E-enhet",
            "identifier": [{"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000131-E000000000700"}],
            "type": [{"coding": [{"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/organization-kind", "code": "municipality"}]}]}
    refused = requests.post(f"{served['base']}/fhir/Organization", json=unit, headers={**headers, "Authorization": f"Bearer {nurse}"}, timeout=10)
    assert refused.status_code == 403
    accepted = requests.post(f"{served['base']}/fhir/Organization", json=unit, headers={**headers, "Authorization": f"Bearer {admin}"}, timeout=10)
    assert accepted.status_code == 201
    assert accepted.headers["Location"].startswith(served["base"] + "/fhir/Organization/")


def test_a_body_over_the_limit_is_refused_by_the_served_adapter(served):
    response = requests.post(f"{served['base']}/fhir/Practitioner", data=b"{" + b" " * (6 * 1024 * 1024) + b"}",
                             headers={"Content-Type": "application/fhir+json", **served["auth"]}, timeout=30)
    assert response.status_code == 413 and response.json()["resourceType"] == "OperationOutcome"


def test_the_directory_load_command_reports_and_is_idempotent(served, tmp_path):
    import json

    from adapter.cli import sandbox_directory_path

    out = json.loads(_cli("directory", "load", sandbox_directory_path(), env=served["env"], cwd=served["cwd"]).splitlines()[-1])
    assert out["created"] == 0 and out["updated"] == 0 and out["failed"] == 0 and out["unchanged"] > 40
