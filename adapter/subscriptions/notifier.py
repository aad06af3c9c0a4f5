"""The notifier: reads the inbox feed in commit order, numbers each subscription's events, queues notifications.

Why nothing is missed: the feed is read after one stored cursor, below the feed's horizon (on
PostgreSQL only changes of transactions that have all finished, adapter/inbox/feed.py), so every
change is read once, after every change that committed before it. Each subscription's events
are numbered in that order, consecutively, in the transaction that moves the cursor; a
notification lost for good leaves a gap the receiver sees in the next one, and `$events` gives
it the missing ones. One notifier runs at a time (a lease in `periodic_job`).

The subscriber's sight of the inbox is checked again for every notification: a revoked
membership or an expired proxy turns the subscription `off`, and nothing more goes out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import insert, select, tuple_, update

from adapter.auth import visibility
from adapter.auth.caller import ADAPTER
from adapter.context import Context
from adapter.db import as_utc, begin_writing
from adapter.fhir.models import ResourceRow
from adapter.fhir.registry import PeriodicJob
from adapter.inbox.feed import visible_horizon
from adapter.inbox.models import InboxItem
from adapter.ops import jobs
from adapter.subscriptions import service
from adapter.subscriptions.models import SubscriptionCursor

JOB_NAME = "subscription-notifier"
CURSOR = SubscriptionCursor.__table__
STATE = service.STATE
EVENT = service.EVENT
ITEM = InboxItem.__table__
RESOURCE = ResourceRow.__table__
FEED_PAGE = 1000  # feed changes read in one pass
PROBE_SECONDS = 60  # a subscription in error is probed with a heartbeat this often


@dataclass
class Notified:
    """One pass's counts (no data)."""

    changes: int = 0
    events: int = 0
    notifications: int = 0
    heartbeats: int = 0
    stopped: int = 0


def _cursor(session) -> tuple[int, int] | None:
    row = session.execute(select(CURSOR.c.feed_xid, CURSOR.c.feed_pos).where(CURSOR.c.id == 1)).first()
    return (int(row[0]), int(row[1])) if row else None


def _matches(state, item) -> bool:
    if (int(item.feed_xid), int(item.feed_pos)) <= (int(state.start_xid), int(state.start_pos)):
        return False
    if state.codes and item.kind not in state.codes.split():
        return False
    return not state.statuses or item.status in state.statuses.split()


def notify_once(app_state, *, limit: int = FEED_PAGE) -> Notified:
    """One pass over what the feed committed since the last; the counts."""
    notified = Notified()
    with begin_writing(app_state.sessions) as session:
        ctx = Context(session=session, config=app_state.config, registry=app_state.registry, validator=app_state.validator,
                      caller=ADAPTER, clock=app_state.clock)
        cursor = _cursor(session)
        if cursor is None:
            session.execute(insert(CURSOR).values(id=1, feed_xid=0, feed_pos=0))
            cursor = (0, 0)
        conditions = [tuple_(ITEM.c.feed_xid, ITEM.c.feed_pos) > cursor]
        horizon = visible_horizon(session)
        if horizon is not None:
            conditions.append(horizon)
        # The Task's version in the same statement (one snapshot): the version the change made.
        items = session.execute(select(ITEM.c.task_id, ITEM.c.owner, ITEM.c.kind, ITEM.c.status, ITEM.c.feed_xid,
                                       ITEM.c.feed_pos, RESOURCE.c.version)
                                .join(RESOURCE, (RESOURCE.c.resource_type == "Task") & (RESOURCE.c.id == ITEM.c.task_id))
                                .where(*conditions).order_by(ITEM.c.feed_xid, ITEM.c.feed_pos).limit(limit)).all()
        notified.changes = len(items)
        if items:
            _number_events(ctx, items, notified)
            last = items[-1]
            session.execute(update(CURSOR).where(CURSOR.c.id == 1).values(feed_xid=last.feed_xid, feed_pos=last.feed_pos))
        _queue_backlogs(ctx, notified)
        _heartbeats(ctx, notified)
    return notified


def _number_events(ctx, items, notified: Notified) -> None:
    """Each subscription on the changed inboxes numbers the changes it matches, after its last number.

    Numbered whatever the subscriber sees now: sight is checked where a notification is made.
    """
    owners = sorted({item.owner for item in items})
    states = ctx.session.execute(select(STATE).where(STATE.c.owner.in_(owners), STATE.c.status != "off")).all()
    now = ctx.clock()
    for state in states:
        matched = [item for item in items if item.owner == state.owner and _matches(state, item)]
        if not matched:
            continue
        first = int(state.events) + 1
        ctx.session.execute(insert(EVENT), [{"subscription_id": state.id, "number": first + i, "task_id": item.task_id,
                                             "version": item.version, "at": now} for i, item in enumerate(matched)])
        ctx.session.execute(update(STATE).where(STATE.c.id == state.id).values(events=first + len(matched) - 1))
        notified.events += len(matched)


def _still_sees(ctx, state) -> bool:
    caller = service.caller_of(state.subscriber)
    return visibility.sees_inbox(replace(ctx, caller=caller), state.owner)


def _queue_backlogs(ctx, notified: Notified) -> None:
    """Events numbered but not yet sent go out, for each subscription whose previous notification has left the
    queue: while one waits (a slow or absent receiver), later events gather into the next, fewer and fuller."""
    states = ctx.session.execute(select(STATE).where(STATE.c.status.in_(("active", "error")),
                                                     STATE.c.events > STATE.c.queued)).all()
    if not states:
        return
    waiting = service.waiting_destinations(ctx, [state.id for state in states])
    now = ctx.clock()
    for state in states:
        if f"{service.PREFIX}{state.id}" in waiting:
            continue
        if not _still_sees(ctx, state):
            service.set_status(ctx, state.id, "off", error="the subscriber no longer sees the inbox")
            notified.stopped += 1
            continue
        rows = ctx.session.execute(select(EVENT).where(EVENT.c.subscription_id == state.id, EVENT.c.number > state.queued)
                                   .order_by(EVENT.c.number).limit(int(state.max_count) * 20)).all()
        for start in range(0, len(rows), int(state.max_count)):
            chunk = rows[start:start + int(state.max_count)]
            events = service.events_with_tasks(ctx, chunk, owner=state.owner, content=state.content)
            service.queue_notification(ctx, subscription_id=state.id, status=state.status, kind="event-notification",
                                       events_since=int(state.events), events=events, content=state.content)
            notified.notifications += 1
        if rows:
            ctx.session.execute(update(STATE).where(STATE.c.id == state.id).values(queued=int(rows[-1].number), last_sent=now))


def _heartbeats(ctx, notified: Notified) -> None:
    """Active subscriptions quiet for their heartbeat period get a heartbeat; those in error a probe."""
    now = ctx.clock()
    due = ctx.session.execute(select(STATE).where(STATE.c.status.in_(("active", "error")))).all()
    for state in due:
        period = state.heartbeat_seconds if state.status == "active" else PROBE_SECONDS
        if not period or (state.last_sent is not None and as_utc(state.last_sent) > now - timedelta(seconds=period)):
            continue
        if not _still_sees(ctx, state):
            service.set_status(ctx, state.id, "off", error="the subscriber no longer sees the inbox")
            notified.stopped += 1
            continue
        service.queue_notification(ctx, subscription_id=state.id, status=state.status, kind="heartbeat",
                                   events_since=int(state.events), events=[], content=state.content)
        ctx.session.execute(update(STATE).where(STATE.c.id == state.id).values(last_sent=now))
        notified.heartbeats += 1


class Notifier:
    """The loop in `mc-adapter worker`: a pass every `interval` seconds while this worker holds the lease."""

    def __init__(self, app_state, *, interval: float = 0.2):
        self.app = app_state
        self.interval = interval

    def run_forever(self, stop: threading.Event, *, worker: str) -> None:
        job = PeriodicJob(name=JOB_NAME, interval_seconds=1, run=None, lease_seconds=30,
                          description="Number subscription events in feed order and queue their notifications")
        jobs.run_leased(self.app, job, stop, worker=worker, run=self._drain, pause=self.interval)

    def _drain(self) -> str:
        """Passes until the feed has no full page waiting; the last pass's counts."""
        while True:
            notified = notify_once(self.app)
            if notified.changes < FEED_PAGE:
                return f"{notified.events} events, {notified.notifications} notifications, {notified.heartbeats} heartbeats"
