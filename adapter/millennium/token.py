"""SMART Backend Services access tokens for Millennium: a signed client assertion, cached until near expiry.

The assertion (RFC 7523, SMART App Launch "Backend Services") is a JWT signed with the configured
private JWK (RS384 or ES384), `iss` = `sub` = the client id, `aud` = the token endpoint, a fresh
`jti`, five minutes' life. The token is renewed 60 s before it expires, or at once when
Millennium answers 401 (`invalidate`), under a lock so that threads share one token.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from adapter.delivery.outbound import OutboundClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RENEW_BEFORE_SECONDS = 60


class TokenUnavailable(Exception):
    """The token endpoint refused the client or could not be reached (`transient` says which)."""

    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float  # time.monotonic()


def client_assertion(*, client_id: str, token_url: str, private_jwk: dict, now: float | None = None) -> str:
    """A signed assertion for one token request."""
    issued = int(now if now is not None else time.time())
    if private_jwk.get("kty") == "EC":
        key, algorithm = ECAlgorithm.from_jwk(json.dumps(private_jwk)), "ES384"
    else:
        key, algorithm = RSAAlgorithm.from_jwk(json.dumps(private_jwk)), "RS384"
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "jti": uuid.uuid4().hex, "iat": issued,
              "exp": issued + 300}
    headers = {"kid": private_jwk["kid"]} if private_jwk.get("kid") else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


class TokenSource:
    """One cached access token for the connector's client (thread-safe)."""

    def __init__(self, settings, client: OutboundClient, *, clock=time.monotonic):
        self.settings = settings
        self.client = client
        self.clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self.issued = 0  # how many tokens were fetched (tests, metrics)

    def token(self) -> str:
        """A token valid for at least a minute more."""
        with self._lock:
            if self._token is None or self._token.expires_at - RENEW_BEFORE_SECONDS <= self.clock():
                self._token = self._fetch()
            return self._token.value

    def invalidate(self, used: str) -> None:
        """Millennium refused `used` (401): the next `token()` fetches a new one, unless another thread already did."""
        with self._lock:
            if self._token is not None and self._token.value == used:
                self._token = None

    def _fetch(self) -> _Token:
        import requests

        form = {"grant_type": "client_credentials", "scope": self.settings.scopes,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(client_id=self.settings.client_id, token_url=self.settings.token_url,
                                                     private_jwk=self.settings.private_jwk)}
        try:
            answer = self.client.request("POST", self.settings.token_url, body=urlencode(form).encode(),
                                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                                  "Accept": "application/json"})
        except requests.exceptions.RequestException as exc:
            raise TokenUnavailable(f"token endpoint unreachable ({type(exc).__name__})", transient=True) from None
        if answer.status >= 500 or answer.status == 429:
            raise TokenUnavailable(f"token endpoint answered HTTP {answer.status}", transient=True)
        if answer.status != 200:
            raise TokenUnavailable(f"token endpoint refused the client (HTTP {answer.status})", transient=False)
        try:
            body = json.loads(answer.body)
            value, lifetime = body["access_token"], float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise TokenUnavailable("token endpoint answered without an access_token", transient=True) from None
        self.issued += 1
        return _Token(value, self.clock() + lifetime)
