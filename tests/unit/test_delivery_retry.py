"""The retry schedule and the classification of answers (pure functions, no database)."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from adapter.delivery.retry import (
    DELIVERED, PERMANENT, TRANSIENT, Attempted, RetryPolicy, backoff_delay, classify_status, decide, parse_retry_after,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_the_transient_statuses_are_retried(status):
    assert classify_status(status).outcome == TRANSIENT


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 501, 505, 301, 302, 307, 308])
def test_other_failures_and_redirects_are_permanent(status):
    assert classify_status(status).outcome == PERMANENT


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_is_delivered(status):
    assert classify_status(status).outcome == DELIVERED


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    assert parse_retry_after("120", now=NOW) == 120
    assert parse_retry_after("Tue, 24 Nov 2026 09:05:00 GMT", now=NOW) == 300
    assert parse_retry_after("Tue, 24 Nov 2026 08:00:00 GMT", now=NOW) == 0
    assert parse_retry_after("soon", now=NOW) is None and parse_retry_after(None, now=NOW) is None
    assert parse_retry_after("9" * 40, now=NOW) == 10**7  # bounded, never an overflow


def test_full_jitter_stays_under_the_exponential_ceiling_and_is_spread():
    policy = RetryPolicy(base_seconds=2, max_delay_seconds=900)
    rng = random.Random(7)
    for attempt, ceiling in ((1, 2), (2, 4), (5, 32), (20, 900), (500, 900)):
        delays = [backoff_delay(policy, attempt=attempt, retry_after=None, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 2  # jittered, not one fixed value that synchronises retries


def test_retry_after_is_a_floor_on_the_delay():
    policy = RetryPolicy(base_seconds=2)
    assert backoff_delay(policy, attempt=1, retry_after=120, rng=random.Random(1)) >= 120


def test_a_transient_failure_is_retried_until_the_horizon_then_dead():
    policy = RetryPolicy(base_seconds=2, max_delay_seconds=900, horizon=timedelta(hours=24))
    failed = Attempted(TRANSIENT, "HTTP 503", 503)
    soon = decide(policy, failed, attempt=3, queued_at=NOW, now=NOW + timedelta(minutes=1), rng=random.Random(1))
    assert soon.state == "pending" and NOW + timedelta(minutes=1) <= soon.retry_at <= NOW + timedelta(minutes=1, seconds=8)
    late = decide(policy, failed, attempt=90, queued_at=NOW, now=NOW + timedelta(hours=24), rng=random.Random(1))
    assert late.state == "dead" and late.reason.startswith("gave up after 90 attempts over 24 h")


def test_a_permanent_failure_is_dead_at_once_and_a_success_is_delivered():
    policy = RetryPolicy()
    assert decide(policy, Attempted(PERMANENT, "HTTP 400", 400), attempt=1, queued_at=NOW, now=NOW,
                  rng=random.Random(1)).state == "dead"
    assert decide(policy, Attempted(DELIVERED, "HTTP 201", 201), attempt=1, queued_at=NOW, now=NOW,
                  rng=random.Random(1)).state == "delivered"


def test_reasons_are_cut_short():
    assert len(Attempted(TRANSIENT, "x" * 1000).reason) == 200
