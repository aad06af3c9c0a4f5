"""`mc-adapter worker`: claims outbox rows, delivers them, records every attempt.

Claims are short transactions: `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite's
`BEGIN IMMEDIATE` serialises claimers instead) takes due rows and marks them `delivering` with
a lease (`available_at` moves to the lease's end). A worker that dies leaves its rows
`delivering`; when the lease ends they are due again, and the next claim records the lost
attempt and delivers them. The HTTP request runs outside any transaction; its outcome is
recorded in a transaction of its own, guarded by the claim, so a worker whose lease ran out
cannot overwrite what another worker did since. Delivery is at-least-once: the row id travels
as the idempotency key (`X-Request-Id`) so a receiver can drop a repeat.

Waking: on PostgreSQL a listener connection `LISTEN`s on `mc_outbox` (sent on commit by the
writing transaction) and wakes the threads; otherwise, and as a safety net, threads sleep until
the next row is due or `idle_seconds` pass.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError  # a lost database: OperationalError, a pool with no live connection, an invalidated transaction

from adapter.auth.caller import ADAPTER
from adapter.context import Context
from adapter.db import as_utc
from adapter.delivery import destinations
from adapter.delivery.models import OutboxAttempt, OutboxEntry
from adapter.delivery.outbound import OutboundClient, client_for
from adapter.delivery.outbox import CHANNEL
from adapter.delivery.retry import PERMANENT, TRANSIENT, Attempted, RetryPolicy, decide

log = logging.getLogger("adapter.delivery")
OUTBOX = OutboxEntry.__table__
ATTEMPT = OutboxAttempt.__table__
DUE_STATES = ("pending", "delivering")


@dataclass(frozen=True)
class Entry:
    """A claimed row: what to deliver, and the claim that owns this attempt."""

    id: str
    kind: str
    destination: str
    payload: dict
    message: str | None
    sender: str | None
    recipient: str | None
    item_id: str | None
    queued_at: datetime
    attempt: int  # this attempt's number (1-based)
    claim: str


class Wakeup:
    """A generation counter: a thread waits until the generation moves past the one it saw (no lost wake-ups)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.generation = 0

    def signal(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self.generation != seen, timeout=timeout)


def retry_policy(config) -> RetryPolicy:
    """The back-off schedule from configuration."""
    return RetryPolicy(base_seconds=config.delivery_base_delay_seconds, max_delay_seconds=config.delivery_max_delay_seconds,
                       horizon=timedelta(seconds=config.delivery_horizon_seconds))


class Worker:
    """Delivers the outbox of one database; any number run side by side."""

    def __init__(self, app_state, *, name: str | None = None, client: OutboundClient | None = None,
                 rng: random.Random | None = None, idle_seconds: float | None = None, observe=None):
        self.app = app_state
        # (destination, outcome, seconds) after each attempt: the worker's metrics (adapter/ops/metrics.py).
        self.observe = observe or (lambda destination, outcome, seconds: None)
        self.config = app_state.config
        self.policy = retry_policy(self.config)
        self.client = client or client_for(self.config)
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}")[:40]
        self.lease = timedelta(seconds=self.config.delivery_lease_seconds)
        self.rng = rng or random.SystemRandom()
        self.wakeup = Wakeup()
        self.idle_seconds = idle_seconds if idle_seconds is not None else (0.5 if self.config.is_sqlite else 5.0)
        # Configured destinations, and Millennium's FHIR base when the connector is configured (adapter/millennium).
        self.destinations = dict(self.config.destinations)
        if self.config.millennium is not None:
            self.destinations["millennium"] = {"url": self.config.millennium.base_url, "headers": {}}

    # -- one round -------------------------------------------------------------------------

    def _context(self, session) -> Context:
        return Context(session=session, config=self.config, registry=self.app.registry, validator=self.app.validator,
                       caller=ADAPTER, clock=self.app.clock)

    def claim(self, limit: int) -> list[Entry]:
        """Take up to `limit` due rows (pending, or delivering with an ended lease) for this worker."""
        now = self.app.clock()
        claim = f"{self.name}/{uuid.uuid4().hex[:12]}"
        with self.app.sessions.begin() as session:
            connection = session.connection()
            rows = connection.execute(
                select(OUTBOX).where(OUTBOX.c.state.in_(DUE_STATES), OUTBOX.c.available_at <= now)
                .order_by(OUTBOX.c.available_at).limit(limit).with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return []
            connection.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows])).values(
                state="delivering", claim=claim, attempts=OUTBOX.c.attempts + 1, available_at=now + self.lease))
            lost = [r for r in rows if r.state == "delivering"]
            if lost:  # the attempt a stopped worker never recorded
                connection.execute(ATTEMPT.insert(), [{
                    "outbox_id": r.id, "number": r.attempts, "at": now, "worker": (r.claim or "?").split("/")[0][:80],
                    "outcome": TRANSIENT, "status": None, "reason": "claim expired: the worker stopped before recording",
                    "duration_ms": 0} for r in lost])
        return [Entry(r.id, r.kind, r.destination, json.loads(r.payload), r.message, r.sender, r.recipient, r.item_id,
                      as_utc(r.queued_at), r.attempts + 1, claim) for r in rows]

    def attempt(self, entry: Entry, resolved: dict | None = None) -> Attempted:
        """Deliver one row; whatever happens becomes an `Attempted` (a worker never crashes on a delivery).

        `resolved` caches destinations for one batch (an Endpoint read once per claim, not per row).
        """
        deliverer = self.app.registry.deliverers.get(entry.kind)
        if deliverer is None:
            return Attempted(PERMANENT, f"no deliverer for kind {entry.kind!r}")
        resolved = {} if resolved is None else resolved
        try:
            destination = resolved.get(entry.destination)
            if destination is None:
                with self.app.sessions() as session:
                    destination = destinations.resolve(session, name=entry.destination, configured=self.destinations,
                                                       resolvers=self.app.registry.destination_resolvers)
                resolved[entry.destination] = destination
            return deliverer(entry, destination=destination, client=self.client, now=self.app.clock())
        except destinations.DestinationUnavailable as exc:
            return Attempted(PERMANENT, str(exc))
        except SQLAlchemyError:
            return Attempted(TRANSIENT, "database unavailable while preparing the delivery")
        except Exception as exc:  # a bug in a deliverer must not stop the worker; the type only (no patient data)
            log.exception("delivery %s: deliverer failed with %s", entry.id, type(exc).__name__)
            return Attempted(TRANSIENT, f"internal error ({type(exc).__name__})")

    def record(self, entry: Entry, attempted: Attempted, duration_ms: int) -> str | None:
        """Store the attempt and the row's next state; tell the domains. None when the claim was lost."""
        now = self.app.clock()
        decision = decide(self.policy, attempted, attempt=entry.attempt, queued_at=entry.queued_at, now=now, rng=self.rng)
        with self.app.sessions.begin() as session:
            connection = session.connection()
            values = {"state": decision.state, "claim": None, "last_reason": (decision.reason or attempted.reason)[:200]}
            if decision.state == "pending":
                values["available_at"] = decision.retry_at
            else:
                values["finished_at"] = now
            changed = connection.execute(update(OUTBOX).where(OUTBOX.c.id == entry.id, OUTBOX.c.claim == entry.claim)
                                         .values(**values)).rowcount
            attempt = {"at": now, "worker": self.name, "outcome": attempted.outcome, "status": attempted.status,
                       "reason": attempted.reason, "duration_ms": duration_ms}
            # A late record (the claim expired and another worker wrote a placeholder for this
            # attempt number) replaces the placeholder with what really happened.
            if changed or not connection.execute(update(ATTEMPT).where(
                    ATTEMPT.c.outbox_id == entry.id, ATTEMPT.c.number == entry.attempt).values(**attempt)).rowcount:
                connection.execute(ATTEMPT.insert().values(outbox_id=entry.id, number=entry.attempt, **attempt))
            ctx = self._context(session)
            self.app.registry.emit(ctx, "outbox-attempted", entry=entry, attempted=attempted)
            if not changed:
                log.warning("delivery %s: claim lost before recording attempt %d (%s)", entry.id, entry.attempt, attempted.outcome)
                return None
            if decision.state == "delivered":
                self.app.registry.emit(ctx, "outbox-delivered", entry=entry, attempted=attempted)
            elif decision.state == "dead":
                self.app.registry.emit(ctx, "outbox-dead", entry=entry, reason=values["last_reason"])
        log.info("delivery %s to %s: attempt %d %s (%s) -> %s", entry.id, entry.destination, entry.attempt,
                 attempted.outcome, attempted.reason, decision.state)
        return decision.state

    def _record_patiently(self, entry: Entry, attempted: Attempted, duration_ms: int, deadline: float) -> None:
        # The receiver has the message; if the database is away, keep trying until half the lease
        # is gone (then the row is delivered again after the lease: a duplicate the key identifies).
        pause = 0.5
        while True:
            try:
                self.record(entry, attempted, duration_ms)
                return
            except SQLAlchemyError as exc:
                if time.monotonic() + pause > deadline:
                    log.error("delivery %s: could not record attempt %d (%s)", entry.id, entry.attempt, type(exc).__name__)
                    return
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _observe(self, destination: str, outcome: str, seconds: float) -> None:
        """Tell the metrics; counting never stops a delivery."""
        try:
            self.observe(destination, outcome, seconds)
        except Exception as exc:
            log.warning("delivery metrics failed: %s", type(exc).__name__)

    def release(self, entries: list[Entry]) -> None:
        """Give unattempted rows back (their claim would outlive its lease otherwise)."""
        if not entries:
            return
        with self.app.sessions.begin() as session:
            for entry in entries:
                session.connection().execute(update(OUTBOX).where(OUTBOX.c.id == entry.id, OUTBOX.c.claim == entry.claim)
                                             .values(state="pending", claim=None, attempts=OUTBOX.c.attempts - 1,
                                                     available_at=self.app.clock()))

    def run_once(self, limit: int | None = None) -> int:
        """Claim a batch and deliver it; return how many rows were attempted."""
        entries = self.claim(limit or self.config.delivery_batch)
        started = time.monotonic()
        budget = self.lease.total_seconds() / 2
        resolved: dict = {}
        for position, entry in enumerate(entries):
            if time.monotonic() - started > budget:
                self.release(entries[position:])
                return position
            began = time.monotonic()
            attempted = self.attempt(entry, resolved)
            duration_ms = int((time.monotonic() - began) * 1000)
            self._observe(entry.destination, attempted.outcome, duration_ms / 1000)
            self._record_patiently(entry, attempted, duration_ms, deadline=started + budget)
        return len(entries)

    def seconds_until_due(self) -> float:
        """How long until the next row is due (at most the idle period)."""
        with self.app.sessions() as session:
            nearest = session.execute(select(func.min(OUTBOX.c.available_at)).where(OUTBOX.c.state.in_(DUE_STATES))).scalar()
        if nearest is None:
            return self.idle_seconds
        return max(0.0, min(self.idle_seconds, (as_utc(nearest) - self.app.clock()).total_seconds()))

    # -- running ---------------------------------------------------------------------------

    def _loop(self, stop: threading.Event) -> None:
        pause = 0.5
        while not stop.is_set():
            seen = self.wakeup.generation
            try:
                done = self.run_once()
                wait = 0.0 if done else self.seconds_until_due()
                pause = 0.5
            except SQLAlchemyError as exc:
                log.warning("outbox: database unavailable (%s); retrying in %.1f s", type(exc).__name__, pause)
                wait, pause = pause, min(pause * 2, 10.0)
            except Exception:  # a delivery thread never dies: a bug is logged, and the thread backs off
                log.exception("outbox: unexpected error; retrying in %.1f s", pause)
                wait, pause = pause, min(pause * 2, 10.0)
            if wait > 0 and not stop.is_set():
                self.wakeup.wait(seen, wait)

    def _listen(self, stop: threading.Event) -> None:
        import psycopg

        url = self.app.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        pause = 0.5
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.wakeup.signal()  # rows committed while we were not listening
                    pause = 0.5
                    while not stop.is_set():
                        for _ in connection.notifies(timeout=1.0):
                            self.wakeup.signal()
            except psycopg.Error as exc:
                log.warning("outbox: listener lost the database (%s); reconnecting in %.1f s", type(exc).__name__, pause)
                stop.wait(pause)
                pause = min(pause * 2, 10.0)

    def run(self, stop: threading.Event, *, threads: int | None = None) -> None:
        """Deliver until `stop` is set: `threads` delivery threads and, on PostgreSQL, a listener."""
        workers = [threading.Thread(target=self._loop, args=(stop,), name=f"deliver-{i}", daemon=True)
                   for i in range(threads or self.config.delivery_threads)]
        if not self.config.is_sqlite:
            workers.append(threading.Thread(target=self._listen, args=(stop,), name="outbox-listen", daemon=True))
        for thread in workers:
            thread.start()
        stop.wait()
        self.wakeup.signal()
        for thread in workers:
            thread.join(timeout=self.config.outbound_read_timeout + self.config.outbound_connect_timeout + 5)
