"""SMART Backend Services: client_credentials with a signed JWT assertion (RS384 or ES384).

The client signs an assertion with its private key; the adapter checks it against the
client's registered JWK Set (iss = sub = client_id, aud = the token endpoint, exp within five
minutes, a jti never seen before) and issues a short-lived access token with the granted
scopes. Disabling a client stops it at once: every request checks that it is still active.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from adapter.auth import scopes as scope_rules
from adapter.auth.caller import Caller
from adapter.auth.models import Client, UsedAssertion
from adapter.errors import Unauthenticated
from adapter.mappings import table

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS384", "ES384"]
ACCESS_TOKEN_LIFETIME = timedelta(minutes=5)
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def known_capabilities() -> frozenset[str]:
    """The roles a client may be registered with (mappings/client_capabilities.csv)."""
    return frozenset(row["capability"] for row in table("client_capabilities"))


def register_client(session, *, organization_hsa_id: str, jwks: dict | None, scopes: str, now: datetime,
                    capabilities: tuple[str, ...] = (), client_id: str | None = None) -> str:
    """Register a client bound to one organisation; returns its client_id.

    Without a JWK Set the client cannot use the token endpoint: only sandbox tokens (sandbox
    mode) name it.
    """
    if jwks is None:
        jwks = {"keys": []}
    elif not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValueError("the JWK Set needs a non-empty 'keys' array")
    for key in jwks["keys"]:
        jwt.PyJWK.from_dict(key)  # raises on a key that cannot be used
        if "d" in key:
            raise ValueError("the JWK Set holds a private key; register the public keys only")
    bad = [s for s in scopes.split() if not scope_rules.valid(s)]
    if bad or not scopes.split():
        raise ValueError(f"scopes are SMART system scopes such as system/Task.rs (bad: {', '.join(bad) or 'none given'})")
    unknown = sorted(set(capabilities) - known_capabilities())
    if unknown:
        raise ValueError(f"unknown capabilities {', '.join(unknown)} (known: {', '.join(sorted(known_capabilities()))})")
    client_id = client_id or f"client-{secrets.token_hex(8)}"
    if session.get(Client, client_id) is not None:
        raise ValueError(f"a client {client_id} is registered already")
    session.add(Client(client_id=client_id, organization_hsa_id=organization_hsa_id, jwks=json.dumps(jwks),
                       scopes=" ".join(scopes.split()), capabilities=" ".join(sorted(set(capabilities))),
                       active=True, created_at=now))
    session.flush()
    return client_id


def active_client(session, client_id) -> Client:
    """The registered, enabled client `client_id`; 401 otherwise (disabling stops a client at once)."""
    client = session.get(Client, client_id) if isinstance(client_id, str) else None
    if client is None or not client.active:
        raise Unauthenticated.simple("the client is unknown or disabled")
    return client


def client_caller(client: Client, *, scopes: str) -> Caller:
    """The caller a client's token makes: its organisation, its granted scopes, its registered roles."""
    return Caller(kind="client", client_name=client.client_id, organization_hsa_id=client.organization_hsa_id,
                  scopes=scope_rules.narrow(scopes, client.scopes),
                  capabilities=frozenset(client.capabilities.split()))


def set_client_active(session, *, client_id: str, active: bool) -> bool:
    """Enable or disable a client; False when there is no such client."""
    client = session.get(Client, client_id)
    if client is None:
        return False
    client.active = active
    return True


def _verify_assertion(session, assertion: str, *, token_endpoint: str, now: datetime) -> tuple[Client, dict]:
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise OAuthError("invalid_client", "the client assertion is not a JWT") from None
    client_id = unverified.get("iss")
    client = session.get(Client, client_id) if isinstance(client_id, str) else None
    if client is None or not client.active:
        raise OAuthError("invalid_client", "unknown or disabled client", 401)
    if header.get("alg") not in ALGORITHMS:
        raise OAuthError("invalid_client", f"assertions are signed with {' or '.join(ALGORITHMS)}", 401)
    keys = [jwt.PyJWK.from_dict(k) for k in json.loads(client.jwks)["keys"]]
    if header.get("kid"):
        keys = [k for k in keys if k.key_id == header["kid"]] or keys
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(
                assertion, key.key, algorithms=[header["alg"]], audience=token_endpoint, issuer=client_id,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]}, leeway=30,
            )
            break
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_client", "the assertion's aud is not this token endpoint", 401) from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_client", "the assertion has expired", 401) from None
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_client", f"the assertion is not valid: {type(exc).__name__}", 401) from None
    if claims is None:
        raise OAuthError("invalid_client", "the assertion's signature does not match the client's keys", 401)
    if claims["sub"] != client_id:
        raise OAuthError("invalid_client", "the assertion's sub must equal its iss (the client_id)", 401)
    expires = datetime.fromtimestamp(claims["exp"], tz=now.tzinfo)
    if expires > now + MAX_ASSERTION_LIFETIME + timedelta(seconds=30):
        raise OAuthError("invalid_client", "an assertion lives at most five minutes", 401)
    return client, claims


def _remember_jti(session, *, client_id: str, jti: str, expires_at: datetime, now: datetime) -> None:
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now - timedelta(minutes=1)))
    try:
        with session.begin_nested():
            session.add(UsedAssertion(client_id=client_id, jti=jti[:255], expires_at=expires_at))
    except IntegrityError:
        raise OAuthError("invalid_client", "the assertion was used before (replayed jti)", 401) from None


def issue_access_token(session, *, form: dict, token_endpoint: str, fhir_base: str, key: str, now: datetime) -> dict:
    """Verify a client_credentials request and return the token response."""
    if form.get("grant_type") != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise OAuthError("invalid_client", f"client_assertion_type must be {ASSERTION_TYPE} with a client_assertion", 401)
    client, claims = _verify_assertion(session, form["client_assertion"], token_endpoint=token_endpoint, now=now)
    _remember_jti(session, client_id=client.client_id, jti=str(claims["jti"]),
                  expires_at=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo), now=now)
    granted = scope_rules.narrow(form.get("scope", ""), client.scopes)
    if not granted:
        raise OAuthError("invalid_scope", "none of the requested scopes is granted to this client")
    token = jwt.encode({
        "iss": token_endpoint, "aud": fhir_base, "sub": client.client_id, "kind": "client",
        "org": client.organization_hsa_id, "scope": granted, "iat": now, "exp": now + ACCESS_TOKEN_LIFETIME,
        "jti": secrets.token_hex(12),
    }, key, algorithm="HS256")
    return {"access_token": token, "token_type": "bearer", "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            "scope": granted}


def access_token_claims(token: str, *, token_endpoint: str, fhir_base: str, key: str) -> dict:
    """The verified claims of an access token this adapter issued; else 401."""
    try:
        return jwt.decode(token, key, algorithms=["HS256"], audience=fhir_base, issuer=token_endpoint,
                          options={"require": ["exp", "sub", "scope"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated.simple("the access token has expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated.simple("the access token is not valid") from None


def access_token_caller(session, claims: dict) -> Caller:
    """The caller of verified access-token claims, for a client that is still active; else 401."""
    return client_caller(active_client(session, claims["sub"]), scopes=claims["scope"])



def smart_configuration(*, token_endpoint: str, scopes: list[str]) -> dict:
    """`/.well-known/smart-configuration` for backend services."""
    return {
        "token_endpoint": token_endpoint,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ALGORITHMS,
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": scopes,
        "capabilities": ["client-confidential-asymmetric"],
    }


def registered(session) -> list[Client]:
    """All registered clients."""
    return list(session.execute(select(Client).order_by(Client.client_id)).scalars())
