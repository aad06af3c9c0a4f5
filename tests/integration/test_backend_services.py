"""SMART Backend Services: client assertions (RS384, ES384), replay, audience, scopes, disabling."""

import json
import uuid
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapter.auth.backend_services import ASSERTION_TYPE, register_client, set_client_active
from tests.conftest import BASE_URL
from tests.helpers import FHIR_JSON
from tests.integration.messaging_helpers import ALFA, KOMMUN_A, KOMMUN_B, MARIA, Sandbox, message

TOKEN_URL = f"{BASE_URL}/auth/token"


def _keypair(kind: str, kid: str):
    if kind == "RS384":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    else:
        private = ec.generate_private_key(ec.SECP384R1())
        public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    public_jwk.update(kid=kid, alg=kind, use="sig")
    return private, public_jwk


class Registered:
    def __init__(self, app, kind="RS384", org=KOMMUN_A, scopes="system/Task.rs system/Task.u system/Communication.crs"):
        self.kind = kind
        self.private, public = _keypair(kind, f"key-{uuid.uuid4().hex[:6]}")
        self.kid = public["kid"]
        with app.extensions["mc"].sessions.begin() as session:
            self.client_id = register_client(session, organization_hsa_id=org, jwks={"keys": [public]},
                                             scopes=scopes, now=datetime.now(timezone.utc))

    def assertion(self, *, aud=TOKEN_URL, lifetime=timedelta(minutes=4), jti=None, key=None, sub=None):
        now = datetime.now(timezone.utc)
        claims = {"iss": self.client_id, "sub": sub or self.client_id, "aud": aud, "jti": jti or uuid.uuid4().hex,
                  "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, key or self.private, algorithm=self.kind, headers={"kid": self.kid})


def _token_request(client, assertion, scope="system/Task.rs"):
    return client.post("/auth/token", data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                            "client_assertion": assertion, "scope": scope})


@pytest.mark.parametrize("kind", ["RS384", "ES384"])
def test_a_client_gets_an_access_token_with_a_signed_assertion(app, client, kind):
    registered = Registered(app, kind)
    response = _token_request(client, registered.assertion())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300 and body["scope"] == "system/Task.rs"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_smart_configuration_names_the_token_endpoint(client):
    config = client.get("/.well-known/smart-configuration").get_json()
    assert config["token_endpoint"] == TOKEN_URL
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]


def test_a_forged_assertion_is_refused(app, client):
    registered = Registered(app)
    other, _ = _keypair("RS384", "other")
    response = _token_request(client, registered.assertion(key=other))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_an_expired_assertion_is_refused(app, client):
    registered = Registered(app)
    response = _token_request(client, registered.assertion(lifetime=timedelta(minutes=-5)))
    assert response.status_code == 401 and "expired" in response.get_json()["error_description"]


def test_an_assertion_living_longer_than_five_minutes_is_refused(app, client):
    registered = Registered(app)
    assert _token_request(client, registered.assertion(lifetime=timedelta(hours=1))).status_code == 401


def test_a_replayed_assertion_is_refused(app, client):
    registered = Registered(app)
    assertion = registered.assertion()
    assert _token_request(client, assertion).status_code == 200
    replay = _token_request(client, assertion)
    assert replay.status_code == 401 and "replayed" in replay.get_json()["error_description"]


def test_an_assertion_for_another_audience_is_refused(app, client):
    registered = Registered(app)
    response = _token_request(client, registered.assertion(aud="https://elsewhere.example/token"))
    assert response.status_code == 401 and "aud" in response.get_json()["error_description"]


def test_sub_must_be_the_client(app, client):
    registered = Registered(app)
    assert _token_request(client, registered.assertion(sub="someone-else")).status_code == 401


def test_scopes_are_narrowed_to_the_registration(app, client):
    registered = Registered(app, scopes="system/Task.rs")
    assert _token_request(client, registered.assertion(), scope="system/Organization.cruds").get_json()["error"] == "invalid_scope"
    granted = _token_request(client, registered.assertion(), scope="system/Task.rs system/Communication.c").get_json()
    assert granted["scope"] == "system/Task.rs"


def test_bad_token_requests_get_oauth_errors(client):
    assert client.post("/auth/token", data={"grant_type": "password"}).get_json()["error"] == "unsupported_grant_type"
    assert client.post("/auth/token", data={"grant_type": "client_credentials"}).status_code == 401
    assert client.post("/auth/token", json={"grant_type": "client_credentials"}).get_json()["error"] == "invalid_request"
    assert _token_request(client, "not-a-jwt").get_json()["error"] == "invalid_client"


def _access(client, registered, scope):
    return {"Authorization": "Bearer " + _token_request(client, registered.assertion(), scope).get_json()["access_token"]}


def test_the_access_token_acts_for_the_clients_organisation_within_its_scopes(app, client, sandbox):
    inbox = Sandbox(client)
    registered = Registered(app, org=KOMMUN_A)
    reader = _access(client, registered, "system/Task.rs")
    assert client.get(f"/fhir/Task?owner={inbox.shared(KOMMUN_A)}", headers=reader).status_code == 200
    refused = client.post("/fhir/Communication", json=message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA)),
                          headers={**FHIR_JSON, **reader})
    assert refused.status_code == 403 and "scopes" in refused.get_json()["issue"][0]["diagnostics"]
    sender = _access(client, registered, "system/Communication.c")
    sent = client.post("/fhir/Communication", json=message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA)),
                       headers={**FHIR_JSON, **sender})
    assert sent.status_code == 201


def test_a_client_sends_only_as_its_own_organisations_inboxes(app, client, sandbox):
    inbox = Sandbox(client)
    other = Registered(app, org=KOMMUN_B)
    headers = _access(client, other, "system/Communication.c")
    response = client.post("/fhir/Communication", json=message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA)),
                           headers={**FHIR_JSON, **headers})
    assert response.status_code == 403


def test_a_disabled_client_is_stopped_at_once(app, client, sandbox):
    registered = Registered(app)
    headers = _access(client, registered, "system/Task.rs")
    inbox = Sandbox(client)
    assert client.get(f"/fhir/Task?owner={inbox.shared(KOMMUN_A)}", headers=headers).status_code == 200
    with app.extensions["mc"].sessions.begin() as session:
        set_client_active(session, client_id=registered.client_id, active=False)
    assert client.get(f"/fhir/Task?owner={inbox.shared(KOMMUN_A)}", headers=headers).status_code == 401
    assert _token_request(client, registered.assertion()).status_code == 401


def test_a_tampered_access_token_is_refused(app, client, sandbox):
    registered = Registered(app)
    token = _token_request(client, registered.assertion(), "system/Task.rs").get_json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["scope"] = "system/*.cruds"
    forged = jwt.encode(claims, "guessed-key-that-is-long-enough-for-hs256!", algorithm="HS256")
    assert client.get("/fhir/Organization", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_registering_a_private_key_or_a_bad_scope_is_refused(app):
    private, public = _keypair("RS384", "k")
    private_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private))
    with app.extensions["mc"].sessions.begin() as session:
        with pytest.raises(ValueError, match="private"):
            register_client(session, organization_hsa_id=KOMMUN_A, jwks={"keys": [private_jwk]}, scopes="system/Task.rs", now=datetime.now(timezone.utc))
        with pytest.raises(ValueError, match="scopes"):
            register_client(session, organization_hsa_id=KOMMUN_A, jwks={"keys": [public]}, scopes="patient/*.read", now=datetime.now(timezone.utc))
