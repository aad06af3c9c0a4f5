"""Writing to the outbox (in the caller's transaction) and what operators do with it.

A row is written in the same transaction as the message that causes it: a rolled-back request
leaves none, a committed one always has its rows. On PostgreSQL the same transaction sends
`NOTIFY mc_outbox`, which PostgreSQL delivers to the listening workers only on commit, so a
worker starts within milliseconds and never sees a row before it is committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update

from adapter.db import as_utc
from adapter.delivery.models import OutboxAttempt, OutboxEntry
from adapter.uuids import time_ordered_uuid
from adapter.writes import insert_later

CHANNEL = "mc_outbox"
OUTBOX = OutboxEntry.__table__
ATTEMPT = OutboxAttempt.__table__
ENQUEUED = "mc_outbox_enqueued"  # Session.info flag: this transaction wrote outbox rows


@dataclass(frozen=True)
class Delivery:
    """What to deliver, to where, and for whom (the sender is told if it fails for good)."""

    kind: str
    destination: str
    payload: dict
    message: str | None = None
    sender: str | None = None
    recipient: str | None = None
    item_id: str | None = None


def enqueue(session, *, deliveries: list[Delivery], now: datetime) -> list[str]:
    """Write the rows (one statement) in the caller's transaction; return their ids (the idempotency keys)."""
    if not deliveries:
        return []
    rows = [{
        "id": time_ordered_uuid(), "kind": d.kind, "destination": d.destination[:200],
        "payload": json.dumps(d.payload, ensure_ascii=False, separators=(",", ":")),
        "message": d.message, "sender": d.sender, "recipient": d.recipient, "item_id": d.item_id,
        "state": "pending", "created_at": now, "queued_at": now, "available_at": now, "attempts": 0,
    } for d in deliveries]
    insert_later(session.connection(), OUTBOX, rows)
    _wake_workers(session)
    return [r["id"] for r in rows]


def _wake_workers(session) -> None:
    """NOTIFY the listening workers once per transaction (PostgreSQL sends it on commit)."""
    if session.info.get(ENQUEUED):
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    session.info[ENQUEUED] = True


def status(session, *, now: datetime) -> dict:
    """Counts by state and destination, and the age of the oldest row still to deliver."""
    connection = session.connection()
    counts: dict[str, dict[str, int]] = {}
    for destination, state, count in connection.execute(
        select(OUTBOX.c.destination, OUTBOX.c.state, func.count()).group_by(OUTBOX.c.destination, OUTBOX.c.state)
    ):
        counts.setdefault(destination, {})[state] = count
    oldest = connection.execute(
        select(func.min(OUTBOX.c.created_at)).where(OUTBOX.c.state.in_(("pending", "delivering")))
    ).scalar()
    totals: dict[str, int] = {}
    for by_state in counts.values():
        for state, count in by_state.items():
            totals[state] = totals.get(state, 0) + count
    return {
        "totals": totals,
        "destinations": [{"destination": d, "counts": c} for d, c in sorted(counts.items())],
        "oldest_pending_seconds": round((now - as_utc(oldest)).total_seconds(), 1) if oldest else None,
    }


def dead_letters(session, *, destination: str | None = None, limit: int = 100) -> list[dict]:
    """Dead letters, newest first, each with its attempts (never the payload's content)."""
    query = select(OUTBOX).where(OUTBOX.c.state == "dead")
    if destination:
        query = query.where(OUTBOX.c.destination == destination)
    rows = session.connection().execute(query.order_by(OUTBOX.c.finished_at.desc()).limit(limit)).all()
    attempts: dict[str, list[dict]] = {r.id: [] for r in rows}
    if rows:
        for a in session.connection().execute(
            select(ATTEMPT).where(ATTEMPT.c.outbox_id.in_(list(attempts))).order_by(ATTEMPT.c.outbox_id, ATTEMPT.c.number)
        ):
            attempts[a.outbox_id].append({"number": a.number, "at": as_utc(a.at), "worker": a.worker, "outcome": a.outcome,
                                          "status": a.status, "reason": a.reason, "duration_ms": a.duration_ms})
    return [{
        "id": r.id, "kind": r.kind, "destination": r.destination, "message": r.message, "sender": r.sender,
        "recipient": r.recipient, "created_at": as_utc(r.created_at),
        "finished_at": as_utc(r.finished_at) if r.finished_at else None, "reason": r.last_reason,
        "attempts": attempts[r.id],
    } for r in rows]


def requeue(ctx, *, entry_id: str | None = None, destination: str | None = None) -> list[str]:
    """Put dead letters back in the queue with a fresh horizon: one by id, or all of a destination's."""
    query = select(OUTBOX.c.id, OUTBOX.c.item_id).where(OUTBOX.c.state == "dead")
    if entry_id is not None:
        query = query.where(OUTBOX.c.id == entry_id)
    elif destination is not None:
        query = query.where(OUTBOX.c.destination == destination)
    else:
        raise ValueError("name a dead letter or a destination")
    connection = ctx.session.connection()
    rows = connection.execute(query).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    now = ctx.clock()
    connection.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(
        state="pending", available_at=now, queued_at=now, finished_at=None, claim=None))
    _wake_workers(ctx.session)
    ctx.registry.emit(ctx, "outbox-requeued", entry_ids=ids, item_ids=[r.item_id for r in rows if r.item_id])
    return ids
