"""Callers: sandbox tokens for users and clients, 401 without valid credentials, directory writes (MC-R32)."""

from datetime import timedelta

import pytest

from adapter.auth import tokens
from adapter.db import utcnow
from tests.helpers import ALL_SCOPES, issue, organization, post, practitioner, register_client


def _token(app, **kwargs) -> str:
    key = app.extensions["mc"].key("sandbox_token_key")
    if "client" in kwargs:
        register_client(app, kwargs["client"], kwargs["org"])
        return tokens.issue_client_token(key=key, client=kwargs["client"], scopes=ALL_SCOPES, now=utcnow(), lifetime=timedelta(hours=1))
    return tokens.issue_user_token(key=key, hsa_id=kwargs["hsa_id"], unit=kwargs.get("unit"),
                                   now=kwargs.get("now", utcnow()), lifetime=kwargs.get("lifetime", timedelta(hours=1)))


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


FORVALTNING = "SE2321000131-P000000009001"
NURSE = "SE2321000131-P000000001003"
UNIT_A = "SE2321000131-E000000000101"


def test_a_forvaltning_user_may_change_the_directory_mc_r32(app, client, sandbox):
    response = post(client, "Practitioner", practitioner("SE2321000131-P000000000500"), _auth(_token(app, hsa_id=FORVALTNING)))
    assert response.status_code == 201


def test_a_clinician_may_read_but_not_change_the_directory_mc_r32(app, client, sandbox):
    headers = _auth(_token(app, hsa_id=NURSE, unit=UNIT_A))
    assert client.get("/fhir/Organization", headers=headers).status_code == 200
    response = post(client, "Practitioner", practitioner("SE2321000131-P000000000501"), headers)
    assert response.status_code == 403 and "MC-R32" in issue(response)["diagnostics"]


def test_a_system_client_cannot_change_the_directory(app, client, sandbox):
    headers = _auth(_token(app, client="kommun-a-system", org="SE2120000001-E000000000301"))
    assert post(client, "Organization", organization("SE2321000131-E000000000500"), headers).status_code == 403


def test_a_token_for_a_user_not_in_the_directory_is_401(app, client, sandbox):
    response = client.get("/fhir/Organization", headers=_auth(_token(app, hsa_id="SE2321000131-P999999999999")))
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]


def test_a_token_naming_a_unit_where_the_user_has_no_assignment_is_401(app, client, sandbox):
    response = client.get("/fhir/Organization", headers=_auth(_token(app, hsa_id=NURSE, unit="SE2120000001-E000000000301")))
    assert response.status_code == 401


def test_expired_and_forged_tokens_are_401(app, client, sandbox):
    expired = _token(app, hsa_id=FORVALTNING, now=utcnow() - timedelta(hours=2), lifetime=timedelta(hours=1))
    assert client.get("/fhir/Organization", headers=_auth(expired)).status_code == 401
    forged = tokens.issue_user_token(key="not-the-key-but-long-enough-for-hs256-signing", hsa_id=FORVALTNING, unit=None, now=utcnow(), lifetime=timedelta(hours=1))
    assert client.get("/fhir/Organization", headers=_auth(forged)).status_code == 401
    assert client.get("/fhir/Organization", headers={"Authorization": "Basic abc"}).status_code == 401


@pytest.fixture
def production_client(config, clean_database):
    from adapter.app import create_app

    app = create_app(config.with_overrides(sandbox=False))
    yield app.test_client()
    app.extensions["mc"].engine.dispose()


def test_in_the_sandbox_too_every_request_but_metadata_and_smart_configuration_needs_a_token(anonymous_client):
    assert anonymous_client.get("/fhir/metadata").status_code == 200
    assert anonymous_client.get("/.well-known/smart-configuration").status_code == 200
    for path in ("/fhir/Organization", "/fhir/Task?owner=HealthcareService/x", "/admin/proxies?unit=x"):
        response = anonymous_client.get(path)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer"), path


def test_outside_the_sandbox_the_operator_token_is_refused(app, production_client):
    from datetime import timedelta

    from adapter.auth.tokens import issue_operator_token
    from adapter.db import utcnow

    token = issue_operator_token(key=app.extensions["mc"].key("sandbox_token_key"), now=utcnow(), lifetime=timedelta(hours=1))
    assert production_client.get("/fhir/Organization", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_outside_the_sandbox_every_request_but_metadata_needs_a_token(production_client):
    assert production_client.get("/fhir/metadata").status_code == 200
    response = production_client.get("/fhir/Organization")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_outside_the_sandbox_sandbox_tokens_are_refused(app, production_client):
    token = _token(app, hsa_id=FORVALTNING)
    assert production_client.get("/fhir/Organization", headers=_auth(token)).status_code == 401
