"""Bulk-loading Tasks for the polling benchmark, stored exactly as the adapter stores items.

PostgreSQL: COPY; SQLite: executemany. (A first version lives in `resource` alone.) The feed positions continue the live counter, so
items the served adapter creates afterwards sort after these.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import text

from adapter.db import make_engine
from adapter.fhir.store import instant
from adapter.inbox.feed import projection
from adapter.inbox.items import NewItem, item_resource

CHUNK = 20_000


def count_tasks(database_url: str) -> int:
    """How many Tasks are stored."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM resource WHERE resource_type = 'Task'")).scalar()
    engine.dispose()
    return int(count)


def _task(number: int, owner: str, now: datetime) -> tuple[str, str, dict]:
    task_id = f"bulk-{number:08d}"
    task = item_resource(
        NewItem(owner=owner, kind="message" if number % 7 else "result", focus=f"Communication/bulk-{number:08d}",
                requester="Practitioner/bulk-sender", priority="urgent" if number % 50 == 0 else "routine"),
        authored_on=instant(now),
    )
    task["id"] = task_id
    task["meta"] = {"versionId": "1", "lastUpdated": instant(now)}
    return task_id, json.dumps(task, separators=(",", ":")), task


def _rows(start: int, stop: int, inboxes: int, poll_inbox: str, now: datetime, first_position: int, poll_items: int):
    for offset, number in enumerate(range(start, stop)):
        owner = poll_inbox if offset < poll_items else f"HealthcareService/bench-inbox-{number % inboxes}"
        task_id, content, task = _task(number, owner, now)
        item = projection(task)
        yield task_id, content, item, first_position + offset


def insert_tasks(database_url: str, *, start: int, stop: int, inboxes: int, poll_inbox: str, poll_items: int) -> None:
    """Store Tasks number `start` to `stop - 1`: the first `poll_items` in `poll_inbox`, the rest over `inboxes` inboxes."""
    if stop <= start:
        return
    now = datetime.now(timezone.utc)
    if database_url.startswith("postgresql"):
        _insert_postgresql(database_url, start, stop, inboxes, poll_inbox, now, poll_items)
    else:
        _insert_sqlite(database_url, start, stop, inboxes, poll_inbox, now, poll_items)


def _insert_postgresql(database_url, start, stop, inboxes, poll_inbox, now, poll_items) -> None:
    import psycopg

    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        first = conn.execute("SELECT nextval('inbox_feed_seq')").fetchone()[0]
        with conn.cursor() as cur:
            rows = list(_rows(start, stop, inboxes, poll_inbox, now, first, poll_items))
            with cur.copy("COPY resource (resource_type, id, version, last_updated, content) FROM STDIN") as copy:
                for task_id, content, _, _ in rows:
                    copy.write_row(("Task", task_id, 1, now, content))
            with cur.copy("COPY inbox_item (task_id, owner, kind, status, priority, due, assignee, focus, trashed_at, "
                          "last_updated, feed_xid, feed_pos) FROM STDIN") as copy:
                for task_id, _, item, position in rows:
                    # xid 1: long finished, below every live transaction (see adapter/inbox/feed.py)
                    copy.write_row((task_id, item["owner"], item["kind"], item["status"], item["priority"], item["due"],
                                    item["assignee"], item["focus"], item["trashed_at"], item["last_updated"], 1, position))
        conn.execute("SELECT setval('inbox_feed_seq', %s)", (first + (stop - start),))
        conn.commit()
    # A store in service is vacuumed as it grows; without this, autovacuum wakes up after the bulk
    # insert and competes with the next measurement for the machine's two cores.
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) resource")
        conn.execute("VACUUM (ANALYZE) inbox_item")


def _insert_sqlite(database_url, start, stop, inboxes, poll_inbox, now, poll_items) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        current = connection.execute(text("SELECT value FROM feed_counter WHERE id = 1")).scalar() or 0
        batch_resource, batch_item = [], []

        def flush():
            connection.execute(text("INSERT INTO resource (resource_type, id, version, last_updated, content) "
                                    "VALUES ('Task', :id, 1, :lu, :content)"), batch_resource)
            connection.execute(text("INSERT INTO inbox_item (task_id, owner, kind, status, priority, due, assignee, focus, "
                                    "trashed_at, last_updated, feed_xid, feed_pos) VALUES (:task_id, :owner, :kind, :status, "
                                    ":priority, :due, :assignee, :focus, :trashed_at, :last_updated, 0, :pos)"), batch_item)
            batch_resource.clear(), batch_item.clear()

        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        for task_id, content, item, position in _rows(start, stop, inboxes, poll_inbox, now, current + 1, poll_items):
            batch_resource.append({"id": task_id, "lu": stamp, "content": content})
            batch_item.append({**item, "task_id": task_id, "pos": position, "last_updated": stamp, "due": None, "trashed_at": None})
            if len(batch_resource) >= CHUNK:
                flush()
        if batch_resource:
            flush()
        last = current + (stop - start)
        updated = connection.execute(text("UPDATE feed_counter SET value = :v WHERE id = 1"), {"v": last}).rowcount
        if not updated:
            connection.execute(text("INSERT INTO feed_counter (id, value) VALUES (1, :v)"), {"v": last})
    engine.dispose()
