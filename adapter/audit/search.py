"""The revisor's searches of the audit trail: by entity, agent or patient (a log extract), and date."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import and_, exists, select

from adapter.audit.models import AuditEntity
from adapter.auth.visibility import only_if
from adapter.db import as_utc
from adapter.errors import Forbidden, Issue, MalformedRequest
from adapter.fhir import bundles, store
from adapter.fhir.search import CursorCodec, _date_range, _range_condition, parse_count
from adapter.identifiers import InvalidIdentifier, normalise

PARAMS = {"entity", "agent", "patient", "patient:identifier", "date", "_count", "_cursor"}


def may_read_audit(ctx) -> bool:
    """Only revisors read the audit trail (MC-R47 follow-up; patientdatalagen log extracts)."""
    return ctx.caller.kind == "user" and "revisor" in ctx.caller.roles


def visibility(ctx, _id_column):
    """AuditEvent `visibility` hook: all of the trail for revisors, none of it for anyone else."""
    return only_if(may_read_audit(ctx))


def _key(name: str, raw: str) -> str:
    if name == "entity":
        return raw
    if name == "agent":
        return f"agent|{raw}"
    system, sep, value = raw.partition("|")
    if not sep or not system or not value:
        raise MalformedRequest(Issue("invalid", "patient is searched by identifier: patient=<system>|<value>", name))
    try:
        system, value = normalise(system, value)
    except InvalidIdentifier:
        pass
    return f"patient|{system}|{value}"


def search_audit(ctx, *, params: list[tuple[str, str]], strict: bool, cursors: CursorCodec) -> tuple[str, list]:
    """`GET /fhir/AuditEvent?...`: events in the order they were recorded."""
    if not may_read_audit(ctx):
        raise Forbidden.simple("only a revisor reads the audit trail")
    keys, conditions, count, after = [], [], ctx.config.default_page_size, None
    honoured = []
    for name, raw in params:
        if name not in PARAMS:
            if strict:
                raise MalformedRequest(Issue("not-supported", f"unknown search parameter '{name}' for AuditEvent", name))
            continue
        if name == "_cursor":
            payload = cursors.decode(raw)
            if payload.get("t") != "AuditEvent":
                raise MalformedRequest(Issue("invalid", "the cursor belongs to another search", name))
            after = payload["k"]
            continue
        honoured.append((name, raw))
        if name == "_count":
            count = min(parse_count(raw, name), ctx.config.max_page_size)
        elif name == "date":
            conditions.append(_date_range(name, raw))
        else:
            keys.append(_key(name.removesuffix(":identifier"), raw))
    if not keys:
        raise MalformedRequest(Issue("required", "name what the extract is about: entity, agent or patient", "entity"))
    driver = AuditEntity.__table__.alias("driver")
    query = select(driver.c.event_id, driver.c.recorded).where(driver.c.entity == keys[0])
    for key in keys[1:]:
        other = AuditEntity.__table__.alias()
        query = query.where(exists().where(and_(other.c.event_id == driver.c.event_id, other.c.entity == key)))
    for prefix, start, end in conditions:
        query = query.where(_range_condition(prefix, start, end, driver.c.recorded, driver.c.recorded))
    if after:
        when = datetime.fromisoformat(after[0])
        query = query.where((driver.c.recorded > when) | ((driver.c.recorded == when) & (driver.c.event_id > after[1])))
    rows = ctx.session.connection().execute(query.order_by(driver.c.recorded, driver.c.event_id).limit(count + 1)).all()
    page = rows[:count]
    events = store.load_many(ctx.session, resource_type="AuditEvent", ids=[r.event_id for r in page])
    base = ctx.config.fhir_base_url
    links = [{"relation": "self", "url": f"{base}/AuditEvent?" + urlencode(honoured)}]
    if len(rows) > count:
        last = page[-1]
        cursor = cursors.encode({"t": "AuditEvent", "k": [as_utc(last.recorded).isoformat(), last.event_id]})
        links.append({"relation": "next", "url": f"{base}/AuditEvent?" + urlencode([*honoured, ("_cursor", cursor)])})
    entries = [bundles.entry(events[r.event_id], base_url=base, extra={"search": {"mode": "match"}})
               for r in page if r.event_id in events]
    return bundles.bundle("searchset", entries, links=links), [events[r.event_id] for r in page if r.event_id in events]

