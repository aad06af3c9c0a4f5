"""Authentication of every request but the public ones (bearer tokens; 401 without), and scopes."""

from __future__ import annotations

from flask import g, request

from adapter.auth import backend_services, oidc, scopes, tokens
from adapter.auth.service import caller_from_claims
from adapter.errors import Forbidden, Unauthenticated
from adapter.http import unit_of_work

PUBLIC_ENDPOINTS = {"fhir.metadata"}


def token_endpoint() -> str:
    """The public URL of `POST /auth/token` (the audience of client assertions)."""
    return unit_of_work.state().config.server_base_url + "/auth/token"


def require_scope(resource_type: str, interaction: str) -> None:
    """403 when the caller's access token does not grant `interaction` on `resource_type`."""
    caller = g.get("caller")
    if caller is None or caller.scopes is None:
        return
    if not scopes.allows(caller.scopes, resource_type, interaction):
        raise Forbidden.simple(f"the access token's scopes do not allow {interaction} on {resource_type}")


def authenticate() -> None:
    """Set `g.caller` for the request or refuse it with 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    app_state = unit_of_work.state()
    header = request.headers.get("Authorization")
    if header is None:
        # Every request but metadata and the SMART configuration needs a token, the sandbox included.
        raise Unauthenticated.simple("a bearer token is required")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated.simple("the Authorization header must be 'Bearer <token>'")
    # The signature is checked once per token (VerifiedTokens), a user's token from an OpenID
    # Connect issuer included; who the caller is, every time. A token verified before names its
    # issuer in its verified claims: no second decoding per request.
    verified = app_state.verified_tokens
    known = verified.known(token)
    issuer_claimed = known["iss"] if known is not None and "iss" in known else oidc.peek_issuer(token)
    if issuer_claimed == token_endpoint():
        claims = verified.claims(token, lambda: backend_services.access_token_claims(
            token, token_endpoint=token_endpoint(), fhir_base=app_state.config.fhir_base_url,
            key=app_state.key("access_token_key")))
        g.caller = backend_services.access_token_caller(unit_of_work.session(), claims)
        return
    if issuer_claimed in app_state.issuers:
        issuer = app_state.issuers[issuer_claimed]
        claims = verified.claims(token, lambda: oidc.verify(token, issuers=app_state.issuers, cache=app_state.jwks)[1])
        g.caller = caller_from_claims(unit_of_work.session(), {
            "kind": "user", "sub": claims[issuer.claims["hsa_id"]], "unit": claims.get(issuer.claims["unit"]),
        })
        return
    if not app_state.config.sandbox:
        raise Unauthenticated.simple("the token's issuer is not trusted here (the sandbox issuer runs only with --sandbox)")
    claims = verified.claims(token, lambda: tokens.verify(token, key=app_state.key("sandbox_token_key")))
    g.caller = caller_from_claims(unit_of_work.session(), claims)
