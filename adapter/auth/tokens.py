"""The sandbox token issuer: HS256 JWTs signed with a key kept in the database.

Only in sandbox mode are these tokens accepted. They live as long as the SMART access tokens
(five minutes) unless asked for longer; a client token names a registered client.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from adapter.errors import Unauthenticated

SANDBOX_ISSUER = "urn:mc-adapter:sandbox"
AUDIENCE = "mc-adapter"
ALGORITHM = "HS256"
DEFAULT_LIFETIME = timedelta(minutes=5)  # as SMART Backend Services access tokens


def issue_user_token(*, key: str, hsa_id: str, unit: str | None, now: datetime, lifetime: timedelta) -> str:
    """A token for a user acting under an assignment at `unit` (or all their assignments)."""
    claims = {"iss": SANDBOX_ISSUER, "aud": AUDIENCE, "sub": hsa_id, "kind": "user", "iat": now, "exp": now + lifetime}
    if unit:
        claims["unit"] = unit
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def issue_client_token(*, key: str, client: str, scopes: str, now: datetime, lifetime: timedelta) -> str:
    """A token for a registered system client: its organisation, scopes and roles come from the registry
    at every request (a disabled client's tokens stop at once); `scopes` can only narrow them."""
    claims = {
        "iss": SANDBOX_ISSUER, "aud": AUDIENCE, "sub": client, "kind": "client", "scope": scopes,
        "iat": now, "exp": now + lifetime,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def issue_operator_token(*, key: str, now: datetime, lifetime: timedelta) -> str:
    """The sandbox operator's token: for integrators exploring the synthetic data (sandbox mode only)."""
    claims = {"iss": SANDBOX_ISSUER, "aud": AUDIENCE, "sub": "sandbox-operator", "kind": "operator", "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify(token: str, *, key: str) -> dict:
    """The verified claims of a sandbox token, or 401."""
    try:
        return jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=SANDBOX_ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated.simple("the token has expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated.simple(f"the token is not valid: {type(exc).__name__}") from None
