"""Claims of bearer tokens whose signature was checked, kept until the token expires.

A client sends the same access token with every request for its lifetime; checking its
signature once is enough. What a token grants is still looked up on every request (an active
client, a user's roles), so disabling a client or ending an assignment takes effect at once.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class VerifiedTokens:
    """A bounded map from token to verified claims, each entry valid until the token's `exp`."""

    def __init__(self, size: int = 4096, clock: Callable[[], float] = time.time):
        self._size = size
        self._clock = clock
        self._claims: dict[str, dict] = {}
        self._lock = threading.Lock()

    def known(self, token: str) -> dict | None:
        """The claims of `token` if it was verified and has not expired, else None."""
        with self._lock:
            cached = self._claims.get(token)
        return cached if cached is not None and cached.get("exp", 0) > self._clock() else None

    def claims(self, token: str, verify: Callable[[], dict]) -> dict:
        """The claims of `token`: cached while unexpired, else `verify()` (which raises 401 for a bad token)."""
        cached = self.known(token)
        if cached is not None:
            return cached
        claims = verify()
        if isinstance(claims.get("exp"), (int, float)):
            with self._lock:
                self._claims.pop(token, None)
                if len(self._claims) >= self._size:
                    self._claims.pop(next(iter(self._claims)))  # the oldest entry
                self._claims[token] = claims
        return claims
