"""VerifiedTokens: a token's signature is checked once, and its claims kept only until it expires."""

from __future__ import annotations

import pytest

from adapter.auth.verified import VerifiedTokens
from adapter.errors import Unauthenticated


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_token_is_verified_once_while_it_is_valid():
    clock, calls = Clock(), []
    cache = VerifiedTokens(clock=clock)
    verify = lambda: calls.append(1) or {"sub": "x", "exp": 2000}  # noqa: E731
    assert cache.claims("t", verify) == cache.claims("t", verify) == {"sub": "x", "exp": 2000}
    assert len(calls) == 1


def test_an_expired_token_is_verified_again_and_its_refusal_is_not_cached():
    clock = Clock()
    cache = VerifiedTokens(clock=clock)
    cache.claims("t", lambda: {"exp": 1500})
    clock.now = 1500

    def refuse():
        raise Unauthenticated.simple("the token has expired")

    with pytest.raises(Unauthenticated):
        cache.claims("t", refuse)
    with pytest.raises(Unauthenticated):
        cache.claims("t", refuse)


def test_the_cache_holds_at_most_its_size_dropping_the_oldest():
    cache = VerifiedTokens(size=2, clock=Clock())
    calls = []
    for token in ("a", "b", "c"):
        cache.claims(token, lambda: calls.append(1) or {"exp": 2000})
    cache.claims("c", lambda: calls.append(1) or {"exp": 2000})  # still cached
    cache.claims("a", lambda: calls.append(1) or {"exp": 2000})  # dropped: verified again
    assert len(calls) == 4


def test_claims_without_an_expiry_are_never_cached():
    cache, calls = VerifiedTokens(clock=Clock()), []
    for _ in range(2):
        cache.claims("t", lambda: calls.append(1) or {"sub": "x"})
    assert len(calls) == 2


def test_known_gives_a_verified_tokens_claims_until_it_expires():
    clock = Clock()
    cache = VerifiedTokens(clock=clock)
    assert cache.known("t") is None
    cache.claims("t", lambda: {"iss": "https://idp.example", "exp": 1500})
    assert cache.known("t") == {"iss": "https://idp.example", "exp": 1500}
    clock.now = 1500
    assert cache.known("t") is None
