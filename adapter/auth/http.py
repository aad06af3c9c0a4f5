"""Authentication of FHIR requests: bearer tokens, or the sandbox's anonymous caller."""

from __future__ import annotations

from flask import g, request

from adapter.auth import tokens
from adapter.auth.caller import ANONYMOUS_SANDBOX
from adapter.auth.service import caller_from_claims
from adapter.errors import Unauthenticated
from adapter.http import unit_of_work

PUBLIC_ENDPOINTS = {"fhir.metadata"}


def authenticate() -> None:
    """Set `g.caller` for the request or refuse it with 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    app_state = unit_of_work.state()
    header = request.headers.get("Authorization")
    if header is None:
        if app_state.config.sandbox:
            g.caller = ANONYMOUS_SANDBOX  # until the security issue: sandbox only
            return
        raise Unauthenticated.simple("a bearer token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated.simple("the Authorization header must be 'Bearer <token>'")
    if not app_state.config.sandbox:
        raise Unauthenticated.simple("no token issuer is configured (the sandbox issuer runs only with --sandbox)")
    claims = tokens.verify(token.strip(), key=app_state.key("sandbox_token_key"))
    g.caller = caller_from_claims(unit_of_work.session(), claims)
