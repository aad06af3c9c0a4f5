"""The follow-up figures of shared inboxes for a period (MC-R47): watches, open and overdue items, handling.

Items are counted in SQL, one grouped query per figure over the inboxes in scope (the indexes
`ix_inbox_item_owner_status` and `ix_inbox_item_owner_done`). Watches are read by the primary
key's range (inbox, window) and placed in the day's parts here, since a day's opening hours
depend on its date (summer time, holidays). Nothing names a patient, a message or a person.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

from sqlalchemy import and_, case, func, select, text

from adapter.db import as_utc
from adapter.directory import lookups
from adapter.followup import calendar
from adapter.followup.models import InboxWatch
from adapter.inbox.models import InboxItem
from adapter.mappings import table

ITEM = InboxItem.__table__
WATCH = InboxWatch.__table__
MAX_DAYS = 92
AGE_BUCKETS = (("under_1_day", 0, 1), ("1_to_3_days", 1, 3), ("3_to_7_days", 3, 7), ("7_to_14_days", 7, 14),
               ("over_14_days", 14, None))


@dataclass(frozen=True)
class Settings:
    """Watches required per inbox kind, time frames per item kind (days), opening hours per unit."""

    watches_per_day: dict[str, int]
    frames_days: dict[str, int]
    hours: dict[str, calendar.Hours]

    def hours_of(self, unit_hsa_id: str | None) -> calendar.Hours:
        return self.hours.get(unit_hsa_id or "", self.hours[""])


def _configured(row: dict, config, column: str) -> int:
    """The row's value, or the setting it names (MC_X_Y -> config.x_y) when configured."""
    setting = (row.get("setting") or "").strip()
    value = getattr(config, setting.removeprefix("MC_").lower(), None) if setting else None
    return int(value if value is not None else row[column])


def settings_from(config) -> Settings:
    """The tables, with the settings the deployment overrides."""
    return Settings(
        watches_per_day={r["inbox_kind"]: _configured(r, config, "watches_per_day") for r in table("watch_requirements")},
        frames_days={r["item_kind"]: _configured(r, config, "days") for r in table("followup_frames")},
        hours=_hours(),
    )


@cache
def _hours() -> dict[str, calendar.Hours]:
    return calendar.hours_from_rows(table("opening_hours"))


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The instants the local days `start`..`end` begin and end."""
    return (datetime.combine(start, datetime.min.time(), calendar.STOCKHOLM),
            datetime.combine(end + timedelta(days=1), datetime.min.time(), calendar.STOCKHOLM))


def report(ctx, *, inboxes, start: date, end: date, settings: Settings) -> dict:
    """The figures of `inboxes` for the local days `start`..`end` (both included)."""
    now = ctx.clock()
    days = calendar.local_days(start, end)
    references = [i.reference for i in inboxes]
    first, last = _bounds(start, end)
    watches = _watches(ctx.session, references, first, last)
    open_items = _open_items(ctx.session, references, now=now, frames=settings.frames_days)
    handling = _handling(ctx.session, references, first, last)
    figures = []
    for inbox in inboxes:
        required = settings.watches_per_day.get(inbox.kind, 1)
        hours = settings.hours_of(inbox.organization_hsa_id)
        windows = sorted(watches.get(inbox.reference, []))
        done_by_day = handling.per_day.get(inbox.reference, {})
        per_day = [_day(day, hours, required, windows, done_by_day.get(day, (0, 0)), now) for day in days]
        open_days = [d for d in per_day if d["open"] and d["compliant"] is not None]  # days whose hours are over
        figures.append({
            "inbox": inbox.reference, "unit_hsa_id": inbox.organization_hsa_id, "inbox_kind": inbox.kind,
            "watches_per_day": required, "days": per_day,
            "compliance": {"open_days": len(open_days), "compliant_days": sum(d["compliant"] for d in open_days),
                           "ratio": round(sum(d["compliant"] for d in open_days) / len(open_days), 3) if open_days else None},
            **open_items.get(inbox.reference, _no_open_items()),
            "handled": handling.per_inbox.get(inbox.reference, _handled([])),
        })
    names = lookups.inbox_names(ctx.session, references)
    for entry in figures:
        entry["name"] = names.get(entry["inbox"])
    return {"period": {"from": start.isoformat(), "to": end.isoformat()}, "generated": now.isoformat(), "rule": "MC-R47",
            "settings": {"watches_per_day": settings.watches_per_day, "frames_days": settings.frames_days},
            "summary": _summary(figures, handling.overall), "inboxes": figures}


def _summary(figures: list[dict], handled: dict) -> dict:
    """Every inbox together: compliance, open items by age, overdue, handling."""
    open_days = sum(f["compliance"]["open_days"] for f in figures)
    compliant = sum(f["compliance"]["compliant_days"] for f in figures)
    by_age = {name: sum(f["open_items"]["by_age"][name] for f in figures) for name, _, _ in AGE_BUCKETS}
    overdue = {key: sum(f["overdue"][key] for f in figures) for key in _no_open_items()["overdue"]}
    return {"inboxes": len(figures), "open_days": open_days, "compliant_days": compliant,
            "ratio": round(compliant / open_days, 3) if open_days else None,
            "open_items": {"total": sum(by_age.values()), "by_age": by_age}, "overdue": overdue,
            "handled": handled}


def _by_local_day(rows: list[dict]) -> dict[date, tuple[int, int]]:
    """Items done per local day: (done, by proxies)."""
    counts: dict[date, list[int]] = {}
    for row in rows:
        entry = counts.setdefault(calendar.local_date(row["done_at"]), [0, 0])
        entry[0] += 1
        entry[1] += row["by_proxy"]
    return {day: (done, by_proxy) for day, (done, by_proxy) in counts.items()}


@lru_cache(maxsize=4096)
def _parts(day: date, hours: calendar.Hours, required: int) -> tuple:
    return tuple(calendar.watch_parts(day, hours, required))


def _watched(part, windows: list[datetime]) -> bool:
    """A watch window starts within the part (`windows` sorted)."""
    at = bisect_left(windows, part.start)
    return at < len(windows) and windows[at] < part.end


def _day(day: date, hours, required: int, windows: list[datetime], done: tuple[int, int], now: datetime) -> dict:
    """A day's watches: `compliant` is None on a closed day and until its opening hours are over."""
    parts = _parts(day, hours, required)
    watched = sum(_watched(part, windows) for part in parts)
    over = bool(parts) and parts[-1].end <= now
    return {"date": day.isoformat(), "open": bool(parts), "required": len(parts), "watched": watched,
            "compliant": (watched == len(parts)) if over else None, "done": done[0], "done_by_proxy": done[1]}


def _watches(session, references: list[str], first: datetime, last: datetime) -> dict[str, list[datetime]]:
    if not references:
        return {}
    rows = session.execute(select(WATCH.c.inbox, WATCH.c.window_start).where(
        WATCH.c.inbox.in_(references), WATCH.c.window_start >= first, WATCH.c.window_start < last)).all()
    found: dict[str, list[datetime]] = {}
    for inbox, window in rows:
        found.setdefault(inbox, []).append(as_utc(window))
    return found


def _no_open_items() -> dict:
    return {"open_items": {"total": 0, "by_age": {name: 0 for name, _, _ in AGE_BUCKETS}},
            "overdue": {"past_due": 0, **{f"{kind}_over_frame": 0 for kind in ("fk-question", "consult", "result")}}}


def _open_items(session, references: list[str], *, now: datetime, frames: dict[str, int]) -> dict[str, dict]:
    """Open items by age and the overdue ones, per inbox, in one grouped query."""
    if not references:
        return {}
    arrived = func.coalesce(ITEM.c.created_at, ITEM.c.last_updated)
    ages = []
    for name, low, high in AGE_BUCKETS:
        condition = arrived <= now - timedelta(days=low)
        if high is not None:
            condition = and_(condition, arrived > now - timedelta(days=high))
        ages.append(func.sum(case((condition, 1), else_=0)).label(name))
    overdue = [func.sum(case((and_(ITEM.c.due.is_not(None), ITEM.c.due < now), 1), else_=0)).label("past_due")]
    for kind in ("fk-question", "consult", "result"):
        limit = now - timedelta(days=frames.get(kind, 14))
        overdue.append(func.sum(case((and_(ITEM.c.kind == kind, arrived < limit), 1), else_=0))
                       .label(kind.replace("-", "_") + "_over_frame"))
    rows = session.execute(
        select(ITEM.c.owner, func.count().label("total"), *ages, *overdue)
        .where(ITEM.c.owner.in_(references), ITEM.c.status != "completed", ITEM.c.trashed_at.is_(None))
        .group_by(ITEM.c.owner)).all()
    return {row.owner: {
        "open_items": {"total": row.total, "by_age": {name: int(getattr(row, name) or 0) for name, _, _ in AGE_BUCKETS}},
        "overdue": {"past_due": int(row.past_due or 0),
                    **{f"{kind}_over_frame": int(getattr(row, kind.replace('-', '_') + '_over_frame') or 0)
                       for kind in ("fk-question", "consult", "result")}},
    } for row in rows}


@dataclass(frozen=True)
class Handling:
    """Items done in the period: per inbox, per inbox and local day (done, by proxies), and all together."""

    per_inbox: dict[str, dict]
    per_day: dict[str, dict[date, tuple[int, int]]]
    overall: dict


def _handling(session, references: list[str], first: datetime, last: datetime) -> Handling:
    if not references:
        return Handling({}, {}, _handled([]))
    if session.get_bind().dialect.name == "postgresql":
        return _handling_in_sql(session, references, first, last)
    return _handling_in_python(session, references, first, last)


# PostgreSQL: per inbox and overall (grouping sets) the counts and nearest-rank percentiles, both
# of a duration from one sort (percentile_disc over an array); per inbox and local day the counts,
# hashed. Sorts stay in memory and compare bytes (COLLATE "C": only the groups matter).
_HOURS = "extract(epoch from {end} - created_at) / 3600"
_DONE_IN_PERIOD = "FROM inbox_item WHERE owner = ANY(:owners) AND done_at >= :first AND done_at < :last"
_HANDLED_COLUMNS = f"""count(*) AS done, count(*) FILTER (WHERE done_by_proxy) AS by_proxy,
  percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {_HOURS.format(end="opened_at")})
    FILTER (WHERE opened_at >= created_at) AS to_open,
  percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {_HOURS.format(end="done_at")})
    FILTER (WHERE done_at >= created_at) AS to_done"""
_HANDLED_SQL = f"""
SELECT owner COLLATE "C" AS owner, GROUPING(owner COLLATE "C") AS all_inboxes, {_HANDLED_COLUMNS}
{_DONE_IN_PERIOD} GROUP BY GROUPING SETS ((owner COLLATE "C"), ())
"""
_OVERALL_SQL = f"SELECT {_HANDLED_COLUMNS} {_DONE_IN_PERIOD}"
_PER_DAY_SQL = f"""
SELECT owner, (done_at AT TIME ZONE 'Europe/Stockholm')::date AS day, count(*) AS done,
  count(*) FILTER (WHERE done_by_proxy) AS by_proxy
{_DONE_IN_PERIOD} GROUP BY owner, day
"""


def _from_row(row) -> dict:
    def hours(values, position):
        return None if values is None or values[position] is None else round(float(values[position]), 2)

    return {"done": row.done, "by_proxy": row.by_proxy,
            "time_to_open_hours": {"p50": hours(row.to_open, 0), "p90": hours(row.to_open, 1)},
            "time_to_done_hours": {"p50": hours(row.to_done, 0), "p90": hours(row.to_done, 1)}}


def _handling_in_sql(session, references, first, last) -> Handling:
    session.execute(text("SET LOCAL work_mem = '64MB'"))  # this transaction's sorts, in memory
    params = {"owners": references, "first": first, "last": last}
    per_inbox: dict[str, dict] = {}
    overall = _handled([])
    for row in session.execute(text(_HANDLED_SQL), params):
        if row.all_inboxes:
            overall = _from_row(row)
        else:
            per_inbox[row.owner] = _from_row(row)
    per_day: dict[str, dict[date, tuple[int, int]]] = {}
    for row in session.execute(text(_PER_DAY_SQL), params):
        per_day.setdefault(row.owner, {})[row.day] = (row.done, row.by_proxy)
    return Handling(per_inbox, per_day, overall)


def _overall_handled(session, references: list[str], first: datetime, last: datetime) -> dict:
    """Every inbox's items done in the period together (one query on PostgreSQL)."""
    if not references:
        return _handled([])
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(text(_OVERALL_SQL), {"owners": references, "first": first, "last": last}).one()
        return _from_row(row)
    return _handling_in_python(session, references, first, last).overall


def weekly(ctx, *, inboxes, figures: dict) -> list[dict]:
    """Per week of a report's period: the share of its open days (over) that were compliant, read from the
    report's days, and the handling of the items done that week."""
    references = [i.reference for i in inboxes]
    period = figures["period"]
    weeks = []
    for start, end in calendar.weeks(date.fromisoformat(period["from"]), date.fromisoformat(period["to"])):
        judged = [d["compliant"] for inbox in figures["inboxes"] for d in inbox["days"]
                  if start.isoformat() <= d["date"] <= end.isoformat() and d["compliant"] is not None]
        weeks.append({"week": start.isocalendar()[1], "from": start.isoformat(), "to": end.isoformat(),
                      "ratio": round(sum(judged) / len(judged), 3) if judged else None,
                      "handled": _overall_handled(ctx.session, references, *_bounds(start, end))})
    return weeks


def _handling_in_python(session, references, first, last) -> Handling:
    """SQLite (the embedded default: no time zones, no percentiles): the done rows, counted here."""
    rows = session.execute(select(ITEM.c.owner, ITEM.c.created_at, ITEM.c.opened_at, ITEM.c.done_at, ITEM.c.done_by_proxy)
                           .where(ITEM.c.owner.in_(references), ITEM.c.done_at >= first, ITEM.c.done_at < last)).all()
    by_owner: dict[str, list[dict]] = {}
    for owner, created, opened, finished, by_proxy in rows:
        by_owner.setdefault(owner, []).append({
            "created_at": as_utc(created) if created else None, "opened_at": as_utc(opened) if opened else None,
            "done_at": as_utc(finished), "by_proxy": bool(by_proxy)})
    return Handling({owner: _handled(found) for owner, found in by_owner.items()},
                    {owner: _by_local_day(found) for owner, found in by_owner.items()},
                    _handled([row for found in by_owner.values() for row in found]))


def _hours_between(pairs) -> list[float]:
    return sorted((b - a).total_seconds() / 3600 for a, b in pairs if a is not None and b is not None and b >= a)


def _percentiles(values: list[float]) -> dict:
    """Nearest rank, as PostgreSQL's percentile_disc."""
    if not values:
        return {"p50": None, "p90": None}
    at = lambda q: round(values[max(0, math.ceil(q * len(values)) - 1)], 2)  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9)}


def _handled(rows: list[dict]) -> dict:
    return {"done": len(rows), "by_proxy": sum(1 for r in rows if r["by_proxy"]),
            "time_to_open_hours": _percentiles(_hours_between((r["created_at"], r["opened_at"]) for r in rows)),
            "time_to_done_hours": _percentiles(_hours_between((r["created_at"], r["done_at"]) for r in rows))}


def csv_rows(figures: dict) -> list[dict]:
    """One row per inbox and day (the CSV export)."""
    return [{"date": day["date"], "unit_hsa_id": inbox["unit_hsa_id"] or "", "inbox": inbox["inbox"],
             "inbox_kind": inbox["inbox_kind"], "open_day": day["open"], "required_watches": day["required"],
             "watched_parts": day["watched"], "compliant": "" if day["compliant"] is None else day["compliant"],
             "done": day["done"],
             "done_by_proxy": day["done_by_proxy"]}
            for inbox in figures["inboxes"] for day in inbox["days"]]
