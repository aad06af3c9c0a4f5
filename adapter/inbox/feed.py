"""The inbox feed: Tasks projected into `inbox_item`, polled in commit order.

Why polling never misses an item
--------------------------------
Every change of an item takes a new feed position (xid, pos) inside its writing transaction,
and a poller continues after the last position it saw.

- PostgreSQL: a sequence value is taken before commit, so plain sequence order is not commit
  order: a transaction holding position 5 may commit after one holding 6, and a poller that
  has seen 6 would never see 5. So each change also records its transaction's id
  (`pg_current_xact_id()`), the feed is ordered by (xid, pos), and a poll shows only changes
  whose xid is below `pg_snapshot_xmin(pg_current_snapshot())`. Every transaction with an xid
  below that horizon has finished; every transaction still running, or starting later, has
  an xid at or above it. A change the poller cannot see yet therefore sorts after every change
  it has been shown, and it is not skipped.
- SQLite serialises writers (BEGIN IMMEDIATE), so a counter taken inside the writing
  transaction already follows commit order; xid is 0.

An item changed twice between polls is shown once, in its latest state, at its latest position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from urllib.parse import urlencode

from sqlalchemy import BigInteger, Text, and_, cast, func, or_, select, text, tuple_

from adapter.errors import Issue, MalformedRequest
from adapter.auth import visibility
from adapter.directory import shapes
from adapter.directory.inboxes import load_inboxes
from adapter.fhir import bundles, dates
from adapter.fhir.models import ResourceRow
from adapter.fhir.search import (
    CursorCodec, _date_range, _range_condition, _split_values, count_matches, include_params, load_targets, parse_count,
)
from adapter.fhir.store import Stored
from adapter.fhir.validation import parse_reference
from adapter.inbox import rules
from adapter.inbox.items import kinds_of
from adapter.inbox.models import FeedCounter, InboxItem
from adapter.mappings import codes
from adapter.writes import insert_later

FEED_PARAMS = {"owner", "status", "code", "folder", "due", "assignee", "focus", "_lastUpdated", "_count", "_cursor",
               "_format", "_include", "_total", "_summary", "_pretty"}
# `_include` parameter -> the inbox_item column holding the reference it follows.
INCLUDE_COLUMNS = {"owner": InboxItem.owner, "assignee": InboxItem.assignee, "focus": InboxItem.focus}


def next_positions(session, count: int = 1) -> list[tuple[int, int]]:
    """`count` new feed positions, in order, inside the current (writing) transaction."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text("SELECT pg_current_xact_id()::text::bigint, nextval('inbox_feed_seq') FROM generate_series(1, :n)"),
            {"n": count},
        ).all()
        return sorted((int(xid), int(pos)) for xid, pos in rows)
    return _counter_positions(connection, count)


def _counter_positions(connection, count: int) -> list[tuple[int, int]]:
    counter = FeedCounter.__table__
    # The driver's SQL: one per message, inside SQLite's write lock (issue #17).
    value = connection.exec_driver_sql(_counter_sql(connection.dialect), (count,)).scalar()
    if value is None:
        connection.execute(counter.insert().values(id=1, value=count))
        value = count
    return [(0, int(value) - count + 1 + i) for i in range(count)]


@cache
def _counter_sql(dialect) -> str:
    """`UPDATE feed_counter SET value = value + ? WHERE id = 1 RETURNING value` (qmark: SQLite)."""
    quote = dialect.identifier_preparer.quote
    table, value, key = quote(FeedCounter.__table__.name), quote("value"), quote("id")
    return f"UPDATE {table} SET {value} = {value} + ? WHERE {key} = 1 RETURNING {value}"


def _instant(value: str | None) -> datetime | None:
    """A stored instant in UTC: SQLite keeps a datetime's wall-clock digits and drops its zone."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc) if value else None


def _due(value: str | None) -> datetime | None:
    """An item is due at its dateTime, or at the end of its due date (Europe/Stockholm)."""
    if not value:
        return None
    try:
        start, end = dates.period(value)
    except ValueError:
        return None
    return start if "T" in value else end


def projection(task: dict) -> dict:
    """The `inbox_item` columns of a Task."""
    assignee = shapes.extension(task, "assignee")
    trashed = shapes.extension(task, "trashed")
    return {
        "owner": task["owner"]["reference"],
        "kind": (kinds_of(task) or ["message"])[0],
        "status": task["status"],
        "priority": task.get("priority"),
        "due": _due(task.get("restriction", {}).get("period", {}).get("end")),
        "assignee": (assignee or {}).get("valueReference", {}).get("reference"),
        "focus": task.get("focus", {}).get("reference"),
        "case_party": (shapes.extension(task, "case-party") or {}).get("valueReference", {}).get("reference"),
        "trashed_at": _instant((trashed or {}).get("valueDateTime")),
        "last_updated": _instant(task["meta"]["lastUpdated"]),
    }


def _handling_times(ctx, task: dict, previous: dict, at: datetime) -> dict:
    """When the item was first opened and when it was done, and whether a proxy did it (follow-up, MC-R47)."""
    items = InboxItem.__table__
    values: dict = {}
    if previous["status"] == "requested" and task["status"] != "requested":
        values["opened_at"] = func.coalesce(items.c.opened_at, at)
    if task["status"] == "completed" and previous["status"] != "completed":
        values.update(done_at=at, done_by_proxy=_by_proxy(ctx, task["owner"]["reference"]))
    elif task["status"] != "completed" and previous["status"] == "completed":
        values.update(done_at=None, done_by_proxy=None)
    return values


def _by_proxy(ctx, owner: str) -> bool:
    """The caller handles a personal inbox as its owner's proxy (MC-R45)."""
    if not owner.startswith("Practitioner/") or ctx.caller.kind != "user":
        return False
    inbox = load_inboxes(ctx, [owner]).get(owner)
    return inbox is not None and visibility.relation(ctx, inbox) == "active-proxy"


def project_item(ctx, task: dict, previous: dict | None) -> None:
    """After a Task is stored: its inbox row, at a new feed position (Task `after_write`)."""
    if previous is None:
        project_new_items(ctx, [task])
        return
    [(xid, pos)] = next_positions(ctx.session)
    items = InboxItem.__table__
    row = projection(task)
    ctx.session.connection().execute(
        items.update().where(items.c.task_id == task["id"]).values(
            **row, **_handling_times(ctx, task, previous, row["last_updated"]), feed_xid=xid, feed_pos=pos)
    )


# PostgreSQL takes a new item's feed position as the row is inserted: no round trip of its own.
_POSITION_SQL = {"feed_xid": "pg_current_xact_id()::text::bigint", "feed_pos": "nextval('inbox_feed_seq')"}


def project_new_items(ctx, tasks: list[dict]) -> None:
    """The inbox rows of new Tasks, sent with the transaction's other inserts (Task `after_write_many`)."""
    connection = ctx.session.connection()
    rows = [_new_row(task) for task in tasks]
    if connection.dialect.name == "postgresql":
        insert_later(connection, InboxItem.__table__, rows, computed=_POSITION_SQL)
        return
    insert_later(connection, InboxItem.__table__, rows, complete=_take_positions)


def _take_positions(connection, rows: list[dict]) -> None:
    """SQLite: the rows' feed positions, taken from the counter as they are sent (the write lock
    held from there to the commit, so positions commit in order)."""
    for row, (xid, pos) in zip(rows, _counter_positions(connection, len(rows))):
        row.update(feed_xid=xid, feed_pos=pos)


def _new_row(task: dict) -> dict:
    row = {**projection(task), "task_id": task["id"]}
    row.update(created_at=row["last_updated"], opened_at=row["last_updated"] if task["status"] != "requested" else None,
               done_at=row["last_updated"] if task["status"] == "completed" else None, done_by_proxy=False)
    return row


@dataclass
class FeedQuery:
    """A parsed poll of one inbox."""

    owner: str
    conditions: list = field(default_factory=list)
    count: int = 50
    after: tuple[int, int] = (0, 0)
    honoured: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # INCLUDE_COLUMNS keys
    cursor: str | None = None
    total: str = "estimate"
    summary_count: bool = False

    @property
    def wants_count(self) -> bool:
        """Whether the total must be counted (`_summary=count`, `_count=0`, `_total=accurate`)."""
        return self.summary_count or self.count == 0 or self.total == "accurate"


def _bad(message: str, expression: str) -> MalformedRequest:
    return MalformedRequest(Issue("invalid", message, expression))


def _reference_value(name: str, raw: str, targets: tuple[str, ...]) -> str:
    parsed = parse_reference(raw)
    if parsed is None or parsed[0] is not None or parsed[1] not in targets:
        raise _bad(f"{name} is a reference to {' or '.join(targets)}, e.g. {targets[0]}/<id>", name)
    return f"{parsed[1]}/{parsed[2]}"


def _codes(name: str, raw: str, code_system: str) -> list[str]:
    values = []
    for value in _split_values(name, raw):
        code = value.rpartition("|")[2]
        if code not in codes(code_system) and code_system != "task-status":
            raise _bad(f"'{code}' is not a code of {code_system}", name)
        values.append(code)
    return values


def parse_feed(params: list[tuple[str, str]], *, strict: bool, now: datetime, default_count: int, max_count: int,
               cursors: CursorCodec, definition=None) -> FeedQuery:
    """Check a poll's parameters; `owner` names the one inbox polled."""
    owners = [v for k, v in params if k == "owner"]
    if len(owners) != 1:
        raise MalformedRequest(Issue("required", "Task searches poll one inbox: give exactly one owner=Practitioner/<id> or HealthcareService/<id>", "owner"))
    query = FeedQuery(owner=_reference_value("owner", owners[0], ("HealthcareService", "Practitioner")), count=default_count)
    folder_given = False
    for name, raw in params:
        if name not in FEED_PARAMS:
            if strict:
                raise MalformedRequest(Issue("not-supported", f"unknown search parameter '{name}' for Task", name))
            query.ignored.append(name)
            continue
        if name == "_include":
            try:
                query.includes += [p.name for p in include_params(definition, raw) if p.name not in query.includes]
            except MalformedRequest:
                if strict:
                    raise
                query.ignored.append(f"_include={raw}")
                continue
        if name != "_cursor":
            query.honoured.append((name, raw))
        if name == "status":
            allowed = {"requested", "in-progress", "on-hold", "completed"}
            values = [v for v in _split_values(name, raw)]
            if not set(values) <= allowed:
                raise _bad(f"status is one of {', '.join(sorted(allowed))}", name)
            query.conditions.append(InboxItem.status.in_(values))
        elif name == "code":
            query.conditions.append(InboxItem.kind.in_(_codes(name, raw, "item-kind")))
        elif name == "folder":
            folder_given = True
            query.conditions.append(_folder_condition(_codes(name, raw, "folder"), now))
        elif name == "due":
            prefix, start, end = _date_range(name, raw)
            query.conditions.append(and_(InboxItem.due.is_not(None), _range_condition(prefix, start, end, InboxItem.due, InboxItem.due)))
        elif name == "assignee":
            query.conditions.append(InboxItem.assignee == _reference_value(name, raw, ("Practitioner",)))
        elif name == "focus":
            parsed = parse_reference(raw)
            if parsed is None or parsed[0] is not None:
                raise _bad("focus is a relative reference, e.g. Communication/<id>", name)
            query.conditions.append(InboxItem.focus == f"{parsed[1]}/{parsed[2]}")
        elif name == "_lastUpdated":
            prefix, start, end = _date_range(name, raw)
            query.conditions.append(_range_condition(prefix, start, end, InboxItem.last_updated, InboxItem.last_updated))
        elif name == "_count":
            query.count = min(parse_count(raw, name), max_count)
        elif name == "_total":
            if raw not in ("none", "estimate", "accurate"):
                raise _bad("_total is none, estimate or accurate", name)
            query.total = raw
        elif name == "_summary":
            if raw not in ("count", "false"):
                raise MalformedRequest(Issue("not-supported", "_summary supports count and false", name))
            query.summary_count = raw == "count"
        elif name == "_cursor":
            query.cursor = raw
            payload = cursors.decode(raw)
            if payload.get("t") != "Task" or payload.get("o") != query.owner:
                raise _bad("the cursor belongs to another inbox's feed", name)
            try:
                query.after = (int(payload["k"][0]), int(payload["k"][1]))
            except (KeyError, IndexError, TypeError, ValueError):
                raise _bad("the paging cursor is invalid", name) from None
    if not folder_given:
        query.conditions.append(InboxItem.trashed_at.is_(None))  # default searches leave the trash out (MC-R22)
    return query


def _folder_condition(folders: list[str], now: datetime):
    alternatives = []
    for folder in folders:
        if folder == rules.TRASH:
            alternatives.append(InboxItem.trashed_at.is_not(None))
        elif folder == rules.PRIORITY:
            alternatives.append(and_(
                InboxItem.trashed_at.is_(None),
                InboxItem.status != "completed",
                or_(InboxItem.kind.in_(rules.priority_kinds()), InboxItem.priority.in_(rules.high_priorities()),
                    InboxItem.due < now),
            ))
        else:
            alternatives.append(and_(InboxItem.trashed_at.is_(None), InboxItem.kind.in_(rules.kinds_in_folder(folder))))
    return or_(*alternatives)


def visible_horizon(session):
    """On PostgreSQL, only changes of transactions that have all finished (see the module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        return InboxItem.feed_xid < cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return None


@dataclass
class FeedPage:
    """One page of a poll."""

    items: list[Stored]
    last: tuple[int, int]
    more: bool
    included: list[Stored] = field(default_factory=list)
    total: int | None = None
    notes: list[str] = field(default_factory=list)


def run_feed(ctx, query: FeedQuery) -> FeedPage:
    """One page of the inbox's feed after the query's position, in feed order (with its includes)."""
    conditions = [InboxItem.owner == query.owner, tuple_(InboxItem.feed_xid, InboxItem.feed_pos) > query.after, *query.conditions]
    horizon = visible_horizon(ctx.session)
    if horizon is not None:
        conditions.append(horizon)
    total, notes = (count_matches(ctx.session, conditions, column=InboxItem.task_id, what="items")
                    if query.wants_count else (None, []))
    if query.count == 0 or query.summary_count:
        return FeedPage([], query.after, False, total=total, notes=notes)
    columns = [INCLUDE_COLUMNS[name] for name in query.includes]
    rows = ctx.session.execute(
        select(InboxItem.feed_xid, InboxItem.feed_pos, ResourceRow, *columns)
        .join(ResourceRow, and_(ResourceRow.resource_type == "Task", ResourceRow.id == InboxItem.task_id))
        .where(*conditions)
        .order_by(InboxItem.feed_xid, InboxItem.feed_pos)
        .limit(query.count + 1)
    ).all()
    page = rows[: query.count]
    last = (int(page[-1][0]), int(page[-1][1])) if page else query.after
    items = [Stored.of(row[2]) for row in page]
    more = len(rows) > query.count
    if not query.wants_count and query.total != "none" and query.after == (0, 0) and not more:
        total = len(items)  # the whole feed is this page: exact, and free
    included = load_targets(ctx, [r for row in page for r in row[3:] if r]) if columns else []
    return FeedPage(items, last, more, included, total, notes)


def feed_bundle(ctx, query: FeedQuery, page: FeedPage, cursors: CursorCodec) -> str:
    """The searchset: `self`, `next` while more exists, and always a signed `resume` cursor."""
    base = ctx.config.fhir_base_url
    cursor = cursors.encode({"t": "Task", "o": query.owner, "k": list(page.last)})
    links = bundles.page_links(f"{base}/Task", query.honoured, cursor=query.cursor, next_cursor=cursor if page.more else None)
    resume = [(k, v) for k, v in query.honoured if k != "_count"] + [("_cursor", cursor)]
    links.append({"relation": "resume", "url": f"{base}/Task?" + urlencode(resume)})
    entries = [bundles.entry(s, base_url=base, extra={"search": {"mode": "match"}}) for s in page.items]
    entries += [bundles.entry(s, base_url=base, extra={"search": {"mode": "include"}}) for s in page.included]
    outcome = bundles.outcome_entry(ignored=query.ignored, notes=page.notes)
    if outcome is not None:
        entries.append(outcome)
    return bundles.bundle("searchset", entries, links=links, total=page.total)


def search_tasks(ctx, *, params: list[tuple[str, str]], strict: bool, cursors: CursorCodec) -> tuple[str, list[Stored]]:
    """`GET /fhir/Task?owner=...`: one page of the inbox's feed, as a Bundle (and everything it shows)."""
    query = parse_feed(params, strict=strict, now=ctx.clock(), default_count=ctx.config.default_page_size,
                       max_count=ctx.config.max_page_size, cursors=cursors, definition=ctx.registry.resource("Task"))
    if not visibility.sees_inbox(ctx, query.owner):
        # Another organisation's inbox: the caller sees nothing of it, not even that it exists
        # (an empty page whose count, when asked for, is 0 like an empty inbox's).
        free = query.total != "none" and query.after == (0, 0)  # when a visible empty inbox gives its total
        empty = FeedPage([], query.after, False, total=0 if query.wants_count or free else None)
        return feed_bundle(ctx, query, empty, cursors), []
    ctx.registry.emit(ctx, "inbox-watched", inbox=query.owner)  # follow-up (MC-R34 to MC-R36)
    page = run_feed(ctx, query)
    return feed_bundle(ctx, query, page, cursors), page.items + page.included
