"""Signing in to the pages outside the sandbox: authorization code with PKCE at the configured issuer."""

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses

from adapter.app import create_app
from tests.integration.test_oidc import AUDIENCE, ISSUER, JWKS_URI, _key
from tests.integration.test_proxies import HANS

AUTHORIZE = f"{ISSUER}/authorize"
TOKEN = f"{ISSUER}/token"
CLIENT = "mc-adapter-pages"


@pytest.fixture
def idp():
    private, public = _key("k1")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, JWKS_URI, json={"keys": [public]})
        yield {"private": private, "mock": mock}


@pytest.fixture
def pages(config, clean_database, app, sandbox):
    issuers = ({"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": JWKS_URI},)
    served = create_app(config.with_overrides(sandbox=False, oidc_issuers=issuers, ui_oidc={
        "issuer": ISSUER, "client_id": CLIENT, "authorization_endpoint": AUTHORIZE, "token_endpoint": TOKEN}))
    yield served.test_client()
    served.extensions["mc"].engine.dispose()


def _id_token(idp, *, nonce, hsa_id=HANS, aud=CLIENT):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": aud, "sub": "user-1", "iat": now, "exp": now + 300, "nonce": nonce,
              "employeeHsaId": hsa_id}
    return jwt.encode(claims, idp["private"], algorithm="RS256", headers={"kid": "k1"})


def _start(pages) -> dict:
    answer = pages.get("/ui/signin/oidc")
    assert answer.status_code == 302 and answer.headers["Location"].startswith(AUTHORIZE)
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def test_a_chef_signs_in_with_the_issuer_using_pkce_and_sees_follow_up(idp, pages):
    query = _start(pages)
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT
    assert query["redirect_uri"].endswith("/ui/callback")
    exchanged = []

    def token_endpoint(request):
        form = parse_qs(request.body)
        exchanged.append(form)
        return 200, {}, '{"id_token": "%s", "token_type": "Bearer"}' % _id_token(idp, nonce=query["nonce"])

    idp["mock"].add_callback(responses.POST, TOKEN, callback=token_endpoint)
    answer = pages.get("/ui/callback", query_string={"code": "the-code", "state": query["state"]})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/ui/followup")
    [form] = exchanged
    verifier = form["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"] and form["code"] == ["the-code"]
    assert pages.get("/ui/followup").status_code == 200
    assert pages.get("/ui/inbox").status_code == 404  # the inbox pages are the sandbox's


def test_a_callback_with_another_state_is_refused(idp, pages):
    _start(pages)
    assert pages.get("/ui/callback", query_string={"code": "c", "state": "forged"}).status_code == 401
    assert pages.get("/ui/followup").status_code == 302  # not signed in


def test_an_id_token_with_another_nonce_or_audience_is_refused(idp, pages):
    for token in (lambda q: _id_token(idp, nonce="other"), lambda q: _id_token(idp, nonce=q["nonce"], aud="someone-else")):
        query = _start(pages)
        idp["mock"].upsert(responses.POST, TOKEN, json={"id_token": token(query)})
        assert pages.get("/ui/callback", query_string={"code": "c", "state": query["state"]}).status_code == 401
        assert pages.get("/ui/followup").status_code == 302


def test_the_sandboxs_user_picker_is_not_served_outside_it(pages):
    assert b"hsa_id" not in pages.get("/ui/signin").data
    assert pages.post("/ui/signin", data={"hsa_id": HANS}).status_code in (400, 404)
