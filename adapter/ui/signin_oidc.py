"""Sign-in to the pages through the configured OpenID Connect issuer: authorization code with PKCE (RFC 7636).

`MC_UI_OIDC` (JSON) names the issuer (one of `MC_OIDC_ISSUERS`, whose keys and claim names are
used), the pages' `client_id`, the issuer's `authorization_endpoint` and `token_endpoint`, and
optionally a `client_secret` (sent with HTTP Basic; a public client relies on PKCE alone). The
session keeps the state, the nonce and the code verifier until the issuer sends the browser
back; the ID token is verified (signature from the issuer's JWKS, `iss`, `aud` = client_id,
`exp`, and the nonce), and the session is renewed with the user's HSA-id.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, replace
from urllib.parse import urlencode

import requests

from adapter.auth import oidc
from adapter.errors import Unauthenticated

PENDING = "mc_ui_oidc_pending"


@dataclass(frozen=True)
class PagesClient:
    """The pages as a client of the issuer."""

    issuer: str
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    client_secret: str | None = None
    scope: str = "openid"

    @classmethod
    def from_config(cls, raw: dict, issuers: dict) -> "PagesClient":
        """From `MC_UI_OIDC`; its issuer must be a trusted one (its keys verify the ID token)."""
        missing = [k for k in ("issuer", "client_id", "authorization_endpoint", "token_endpoint") if not raw.get(k)]
        if missing:
            raise ValueError(f"MC_UI_OIDC needs {', '.join(missing)}")
        if raw["issuer"] not in issuers:
            raise ValueError("MC_UI_OIDC's issuer is not one of MC_OIDC_ISSUERS")
        return cls(raw["issuer"], raw["client_id"], raw["authorization_endpoint"], raw["token_endpoint"],
                   raw.get("client_secret"), raw.get("scope", "openid"))


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def start(client: PagesClient, *, redirect_uri: str, session) -> str:
    """Where to send the browser: the issuer's authorization endpoint, with a fresh state, nonce and S256 challenge."""
    pending = {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32),
               "verifier": secrets.token_urlsafe(64)}
    session[PENDING] = pending
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri, "scope": client.scope,
             "state": pending["state"], "nonce": pending["nonce"], "code_challenge": _challenge(pending["verifier"]),
             "code_challenge_method": "S256"}
    return f"{client.authorization_endpoint}?{urlencode(query)}"


def finish(client: PagesClient, *, code: str | None, state: str | None, redirect_uri: str, session, issuers: dict,
           cache) -> str:
    """The signed-in user's HSA-id, from the code the issuer sent back; 401 for anything amiss."""
    pending = session.pop(PENDING, None)
    if not pending or not state or not secrets.compare_digest(state, pending["state"]):
        raise Unauthenticated.simple("the sign-in's state does not match this browser's (start again)")
    if not code:
        raise Unauthenticated.simple("the issuer sent no authorization code")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client.client_id, "code_verifier": pending["verifier"]}
    auth = (client.client_id, client.client_secret) if client.client_secret else None
    try:
        answer = requests.post(client.token_endpoint, data=form, auth=auth, timeout=10, allow_redirects=False)
        id_token = answer.json().get("id_token") if answer.status_code == 200 else None
    except (requests.RequestException, ValueError):
        id_token = None
    if not isinstance(id_token, str):
        raise Unauthenticated.simple("the issuer did not exchange the code for an ID token")
    issuer = replace(issuers[client.issuer], audience=client.client_id)  # an ID token is for the pages
    _, claims = oidc.verify(id_token, issuers={issuer.issuer: issuer}, cache=cache)
    if not secrets.compare_digest(str(claims.get("nonce", "")), pending["nonce"]):
        raise Unauthenticated.simple("the ID token's nonce is not this sign-in's")
    return claims[issuer.claims["hsa_id"]]
