"""Small builders and request helpers shared by the tests."""

from __future__ import annotations

from adapter.identifiers import BASE, HSA_ID, INBOX_ID

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def organization(hsa_id: str, kind: str = "region-unit", *, name: str = "Testenhet", **extra) -> dict:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": HSA_ID, "value": hsa_id}],
        "name": name,
        "type": [{"coding": [{"system": f"{BASE}/CodeSystem/organization-kind", "code": kind}]}],
        **extra,
    }


def practitioner(hsa_id: str, **extra) -> dict:
    return {"resourceType": "Practitioner", "identifier": [{"system": HSA_ID, "value": hsa_id}],
            "name": [{"family": "Testsson", "given": ["Test"]}], **extra}


def role(practitioner_id: str, organization_id: str, code: str, **extra) -> dict:
    return {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "organization": {"reference": f"Organization/{organization_id}"},
        "code": [{"coding": [{"system": f"{BASE}/CodeSystem/role", "code": code}]}],
        **extra,
    }


def function_inbox(organization_id: str, identifier: str | None = None, **extra) -> dict:
    resource = {
        "resourceType": "HealthcareService",
        "providedBy": {"reference": f"Organization/{organization_id}"},
        "type": [{"coding": [{"system": f"{BASE}/CodeSystem/inbox-kind", "code": "function"}]}],
        "name": "Funktionsinkorg",
        **extra,
    }
    if identifier:
        resource["identifier"] = [{"system": INBOX_ID, "value": identifier}]
    return resource


def post(client, path: str, resource, headers: dict | None = None):
    return client.post(f"/fhir/{path}", json=resource, headers={**FHIR_JSON, **(headers or {})})


def put(client, path: str, resource, headers: dict | None = None):
    return client.put(f"/fhir/{path}", json=resource, headers={**FHIR_JSON, **(headers or {})})


def search(client, query: str, headers: dict | None = None) -> list[dict]:
    response = client.get(f"/fhir/{query}", headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return [e["resource"] for e in response.get_json().get("entry", []) if e.get("search", {}).get("mode") == "match"]


def created(client, path: str, resource) -> dict:
    response = post(client, path, resource)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def issue(response) -> dict:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]


def rule_of(response) -> str | None:
    codings = issue(response).get("details", {}).get("coding", [])
    return codings[0]["code"] if codings else None


ALL_SCOPES = "system/*.cruds"


def register_client(app, client: str, org: str, *, capabilities: tuple[str, ...] = (), scopes: str = ALL_SCOPES) -> str:
    """Register a sandbox client (no keys: sandbox tokens only) unless it is registered already."""
    from adapter.auth.backend_services import register_client as register
    from adapter.auth.models import Client
    from adapter.db import utcnow

    with app.extensions["mc"].sessions.begin() as session:
        if session.get(Client, client) is None:
            register(session, organization_hsa_id=org, jwks=None, scopes=scopes, now=utcnow(),
                     capabilities=capabilities, client_id=client)
    return client


def bearer(app, *, hsa_id: str | None = None, unit: str | None = None, client: str | None = None, org: str | None = None,
           capabilities: tuple[str, ...] = (), scopes: str = ALL_SCOPES) -> dict:
    """An Authorization header with a sandbox token for a user, or for a system client (registered on first use)."""
    from datetime import timedelta

    from adapter.auth import tokens
    from adapter.db import utcnow

    key = app.extensions["mc"].key("sandbox_token_key")
    if client:
        register_client(app, client, org, capabilities=capabilities, scopes=scopes)
        token = tokens.issue_client_token(key=key, client=client, scopes=scopes, now=utcnow(), lifetime=timedelta(hours=1))
    else:
        token = tokens.issue_user_token(key=key, hsa_id=hsa_id, unit=unit, now=utcnow(), lifetime=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def operator_client(app):
    """A test client that sends the sandbox operator's token unless a request sends another."""
    from datetime import timedelta

    from adapter.auth.tokens import issue_operator_token
    from adapter.db import utcnow

    test_client = app.test_client()
    token = issue_operator_token(key=app.extensions["mc"].key("sandbox_token_key"), now=utcnow(), lifetime=timedelta(hours=2))
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client
