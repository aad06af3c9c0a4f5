"""User tokens from a configured OpenID Connect issuer (Inera IdP claim names), its keys fetched over HTTP."""

import json
import time
import uuid

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from adapter.app import create_app
from tests.integration.messaging_helpers import ALFA, ANNA, CECILIA, KOMMUN_A, Sandbox

ISSUER = "https://idp.example.test/oidc"
JWKS_URI = f"{ISSUER}/jwks"
AUDIENCE = "mc-adapter"


def _key(kid):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    public.update(kid=kid, alg="RS256", use="sig")
    return private, public


@pytest.fixture
def idp():
    private, public = _key("k1")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, JWKS_URI, json={"keys": [public]})
        yield {"private": private, "kid": "k1", "mock": mock}


@pytest.fixture
def production(config, clean_database, app, sandbox):
    """An adapter outside the sandbox trusting the issuer (the sandbox fixture loads the directory)."""
    issuers = ({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": JWKS_URI},)
    served = create_app(config.with_overrides(sandbox=False, oidc_issuers=issuers))
    yield served.test_client()
    served.extensions["mc"].engine.dispose()


def _token(idp, *, hsa_id, unit=None, aud=AUDIENCE, iss=ISSUER, lifetime=300, key=None, kid=None):
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "sub": str(uuid.uuid4()), "iat": now, "exp": now + lifetime, "employeeHsaId": hsa_id}
    if unit:
        claims["healthCareUnitHsaId"] = unit
    return jwt.encode(claims, key or idp["private"], algorithm="RS256", headers={"kid": kid or idp["kid"]})


def _get(client, path, token):
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_user_token_from_the_issuer_names_the_user_and_the_assignment(idp, production, client):
    alfa_inbox = Sandbox(client).shared(ALFA)
    token = _token(idp, hsa_id=CECILIA, unit=ALFA)
    assert _get(production, f"/fhir/Task?owner={alfa_inbox}", token).status_code == 200
    assert _get(production, "/fhir/Organization", _token(idp, hsa_id=CECILIA, unit=KOMMUN_A)).status_code == 401  # no assignment there


def test_tokens_for_another_audience_expired_or_forged_are_401(idp, production):
    assert _get(production, "/fhir/Organization", _token(idp, hsa_id=ANNA, aud="someone-else")).status_code == 401
    assert _get(production, "/fhir/Organization", _token(idp, hsa_id=ANNA, lifetime=-120)).status_code == 401
    forger, _ = _key("k1")
    assert _get(production, "/fhir/Organization", _token(idp, hsa_id=ANNA, key=forger)).status_code == 401


def test_an_untrusted_issuer_is_401_outside_the_sandbox(idp, production):
    response = _get(production, "/fhir/Organization", _token(idp, hsa_id=ANNA, iss="https://evil.example/oidc"))
    assert response.status_code == 401 and "not trusted" in response.get_json()["issue"][0]["diagnostics"]


def test_a_rotated_key_is_fetched_again(idp, production):
    assert _get(production, "/fhir/Organization", _token(idp, hsa_id=ANNA)).status_code == 200
    rotated, public = _key("k2")
    idp["mock"].replace(responses.GET, JWKS_URI, json={"keys": [public]})
    from adapter.auth import oidc

    original = oidc.MIN_REFRESH_SECONDS
    oidc.MIN_REFRESH_SECONDS = 0
    try:
        assert _get(production, "/fhir/Organization", _token(idp, hsa_id=ANNA, key=rotated, kid="k2")).status_code == 200
    finally:
        oidc.MIN_REFRESH_SECONDS = original


def test_an_unreachable_issuer_is_401_not_500(config, clean_database, app, sandbox):
    issuers = ({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": JWKS_URI},)
    served = create_app(config.with_overrides(sandbox=False, oidc_issuers=issuers))
    private, _ = _key("k9")
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, JWKS_URI, status=503)
        response = _get(served.test_client(), "/fhir/Organization", _token({"private": private, "kid": "k9"}, hsa_id=ANNA))
    served.extensions["mc"].engine.dispose()
    assert response.status_code == 401


def test_an_issuer_without_its_settings_is_refused_at_start(config):
    with pytest.raises(ValueError, match="jwks_uri"):
        create_app(config.with_overrides(oidc_issuers=({"issuer": ISSUER, "audience": AUDIENCE},)))


def test_a_user_tokens_signature_is_checked_once_and_a_forged_twin_is_still_refused(idp, production, monkeypatch):
    from adapter.auth import oidc

    checks = []
    verify = oidc.verify
    monkeypatch.setattr(oidc, "verify", lambda *a, **k: checks.append(1) or verify(*a, **k))
    token = _token(idp, hsa_id=ANNA)
    assert [_get(production, "/fhir/Organization", token).status_code for _ in range(3)] == [200, 200, 200]
    assert len(checks) == 1
    forger, _ = _key("k1")  # same claims, another key: another token string, verified on its own
    _header, payload, _signature = token.split(".")
    forged = jwt.encode(jwt.decode(token, options={"verify_signature": False}), forger, algorithm="RS256",
                        headers={"kid": "k1"})
    assert forged.split(".")[1] == payload and forged != token
    assert _get(production, "/fhir/Organization", forged).status_code == 401
