"""User tokens from configured OpenID Connect issuers (e.g. Inera IdP).

Each issuer is configured with its `issuer`, the `audience` tokens must carry, its `jwks_uri`
and, optionally, the claim names for the user's HSA-id, the assignment's unit and purpose
(medarbetaruppdrag); Inera IdP's names are the defaults. Keys are fetched with `requests`,
cached, and fetched again when a token names a key id not yet seen (key rotation).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import jwt
import requests

from adapter.errors import Unauthenticated

INERA_CLAIMS = {"hsa_id": "employeeHsaId", "unit": "healthCareUnitHsaId", "purpose": "commissionPurpose"}
ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
JWKS_TTL_SECONDS = 600
MIN_REFRESH_SECONDS = 30


@dataclass(frozen=True)
class Issuer:
    """A trusted OpenID Connect issuer."""

    issuer: str
    audience: str
    jwks_uri: str
    claims: dict = field(default_factory=lambda: dict(INERA_CLAIMS))
    algorithms: tuple[str, ...] = ALGORITHMS

    @classmethod
    def from_config(cls, raw: dict) -> "Issuer":
        """From one entry of `MC_OIDC_ISSUERS` (a JSON list)."""
        missing = [k for k in ("issuer", "audience", "jwks_uri") if not raw.get(k)]
        if missing:
            raise ValueError(f"an OIDC issuer needs {', '.join(missing)}")
        return cls(raw["issuer"], raw["audience"], raw["jwks_uri"], {**INERA_CLAIMS, **raw.get("claims", {})},
                   tuple(raw.get("algorithms", ALGORITHMS)))


class JwksCache:
    """Each issuer's keys, per process, refreshed on expiry or an unknown key id (rate-limited)."""

    def __init__(self, *, fetch=None):
        self._fetch = fetch or self._get
        self._keys: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _get(uri: str) -> dict:
        response = requests.get(uri, timeout=5)
        response.raise_for_status()
        return response.json()

    def key(self, issuer: Issuer, kid: str | None) -> jwt.PyJWK:
        """The issuer's key with `kid` (or its only key when the token names none)."""
        with self._lock:
            fetched_at, keys = self._keys.get(issuer.issuer, (0.0, {}))
            age = time.monotonic() - fetched_at
            if age > JWKS_TTL_SECONDS or (kid not in keys and age > MIN_REFRESH_SECONDS):
                keys = self._load(issuer)
                self._keys[issuer.issuer] = (time.monotonic(), keys)
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        if kid not in keys:
            raise Unauthenticated.simple("the token is signed with a key its issuer does not publish")
        return keys[kid]

    def _load(self, issuer: Issuer) -> dict[str, jwt.PyJWK]:
        try:
            document = self._fetch(issuer.jwks_uri)
        except (requests.RequestException, ValueError):
            raise Unauthenticated.simple("the token's issuer could not be reached to check its keys") from None
        keys = {}
        for raw in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                key = jwt.PyJWK.from_dict(raw)
            except jwt.PyJWTError:
                continue  # a key of a type we do not use
            keys[raw.get("kid") or "_only"] = key
        return keys


def verify(token: str, *, issuers: dict[str, Issuer], cache: JwksCache) -> tuple[Issuer, dict]:
    """The issuer and verified claims of a user token; 401 for anything else."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated.simple("the bearer token is not a JWT") from None
    issuer = issuers.get(unverified.get("iss"))
    if issuer is None:
        raise Unauthenticated.simple("the token's issuer is not trusted here")
    if header.get("alg") not in issuer.algorithms:
        raise Unauthenticated.simple(f"the token's algorithm is not one of {', '.join(issuer.algorithms)}")
    key = cache.key(issuer, header.get("kid"))
    try:
        claims = jwt.decode(token, key.key, algorithms=list(issuer.algorithms), audience=issuer.audience,
                            issuer=issuer.issuer, options={"require": ["exp", "iss", "aud"]}, leeway=30)
    except jwt.ExpiredSignatureError:
        raise Unauthenticated.simple("the token has expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated.simple(f"the token is not valid: {type(exc).__name__}") from None
    if not claims.get(issuer.claims["hsa_id"]):
        raise Unauthenticated.simple(f"the token names no user (claim {issuer.claims['hsa_id']})")
    return issuer, claims


def peek_issuer(token: str) -> str | None:
    """The `iss` a token claims, unverified (to choose how to verify it)."""
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
