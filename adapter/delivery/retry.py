"""When to try again: the classification of an attempt and the back-off schedule (pure functions).

Transient failures (connection errors, timeouts, 408, 425, 429, 5xx gateways) are retried with
exponential back-off and full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"),
never sooner than the receiver's `Retry-After`, until a horizon (default 24 hours) has passed
since the row was queued. Anything else that is not a 2xx is permanent and stops at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

DELIVERED, TRANSIENT, PERMANENT = "delivered", "transient", "permanent"
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REASON_LENGTH = 200


@dataclass(frozen=True)
class Attempted:
    """The outcome of one delivery attempt. `reason` is short and never carries patient data."""

    outcome: str  # DELIVERED, TRANSIENT or PERMANENT
    reason: str
    status: int | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    receipt: str | None = None  # what the receiver calls what it stored (e.g. Millennium's Communication id)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", self.reason[:REASON_LENGTH])


@dataclass(frozen=True)
class RetryPolicy:
    """The back-off schedule's knobs (configuration: MC_DELIVERY_*)."""

    base_seconds: float = 2.0
    max_delay_seconds: float = 15 * 60.0
    horizon: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Decision:
    """What becomes of the row after an attempt: delivered, retried at `retry_at`, or dead."""

    state: str  # "delivered", "pending" or "dead"
    retry_at: datetime | None = None
    reason: str | None = None


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 10**7))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def classify_status(status: int, *, retry_after: float | None = None) -> Attempted:
    """An HTTP answer's outcome: 2xx delivered, the transient set retried, anything else permanent."""
    if 200 <= status < 300:
        return Attempted(DELIVERED, f"HTTP {status}", status)
    if status in TRANSIENT_STATUSES:
        return Attempted(TRANSIENT, f"HTTP {status}", status, retry_after)
    if 300 <= status < 400:
        return Attempted(PERMANENT, f"HTTP {status}: redirects are not followed", status)
    return Attempted(PERMANENT, f"HTTP {status}: refused by the receiver", status)


def backoff_delay(policy: RetryPolicy, *, attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds until the next try after the `attempt`-th one (1-based): full jitter, at least Retry-After."""
    ceiling = min(policy.max_delay_seconds, policy.base_seconds * (2 ** min(max(attempt - 1, 0), 30)))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def decide(policy: RetryPolicy, attempted: Attempted, *, attempt: int, queued_at: datetime, now: datetime,
           rng: random.Random) -> Decision:
    """The row's next state after `attempted`: done, again later (within the horizon), or dead."""
    if attempted.outcome == DELIVERED:
        return Decision("delivered")
    if attempted.outcome == PERMANENT:
        return Decision("dead", reason=attempted.reason)
    retry_at = now + timedelta(seconds=backoff_delay(policy, attempt=attempt, retry_after=attempted.retry_after, rng=rng))
    if retry_at > queued_at + policy.horizon:
        hours = policy.horizon.total_seconds() / 3600
        return Decision("dead", reason=f"gave up after {attempt} attempts over {hours:g} h: {attempted.reason}")
    return Decision("pending", retry_at=retry_at)
