"""The follow-up figures of shared inboxes for a period (MC-R47): watches, open and overdue items, handling.

Items are counted in SQL from the indexes alone (`ix_inbox_item_owner_status` for the open
items, `ix_inbox_item_owner_done` for those done in the period: both carry the columns counted,
so no item row is read). On PostgreSQL one pass over the done items gives every inbox's counts,
percentiles and done-per-day, and all inboxes' together. Watches are read by the primary key's
range (inbox, window) as window numbers and placed in the day's parts here, since a day's
opening hours depend on its date (summer time, holidays). Nothing names a patient, a message or
a person.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache

from sqlalchemy import and_, func, select, text

from adapter.db import among, as_utc, custom_plans, read_beside
from adapter.directory import lookups
from adapter.followup import calendar
from adapter.followup.models import InboxWatch
from adapter.followup.watches import WINDOW
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
    """The instants (UTC) the local days `start`..`end` begin and end.

    UTC, because SQLite compares a bound datetime by its wall-clock digits: 00:00+01:00 would
    be compared as 00:00 UTC, an hour late.
    """
    return _start_of(start), _start_of(end + timedelta(days=1))


def _start_of(day: date) -> datetime:
    """The instant (UTC) the local day begins."""
    return datetime.combine(day, datetime.min.time(), calendar.STOCKHOLM).astimezone(timezone.utc)


def report(ctx, *, inboxes, start: date, end: date, settings: Settings) -> dict:
    """The figures of `inboxes` for the local days `start`..`end` (both included)."""
    now = ctx.clock()
    days = calendar.local_days(start, end)
    references = [i.reference for i in inboxes]
    first, last = _bounds(start, end)
    custom_plans(ctx.session)  # long reads whose best plan depends on the period and the inboxes
    # The done items' pass is the longest read; the other figures are read beside it, on a second
    # connection (PostgreSQL), and all are of committed data read within the same moment.
    beside = read_beside(ctx.session, lambda session: (
        _watches(session, references, first, last),
        _open_items(session, references, now=now, frames=settings.frames_days),
        lookups.inbox_names(session, references)))
    handling = _handling(ctx.session, references, days)
    watches, open_items, names = beside.result()
    figures = []
    schedules: dict[tuple, _Schedule] = {}  # (hours, watches a day) -> the period's parts: most inboxes share one
    for inbox in inboxes:
        required = settings.watches_per_day.get(inbox.kind, 1)
        hours = settings.hours_of(inbox.organization_hsa_id)
        schedule = schedules.get((hours, required))
        if schedule is None:
            schedule = schedules[(hours, required)] = _Schedule.of(days, hours, required, now)
        per_day = schedule.days_of(watches.get(inbox.reference, ()), handling.per_day.get(inbox.reference, {}))
        open_days = [d for d in per_day if d["open"] and d["compliant"] is not None]  # days whose hours are over
        figures.append({
            "inbox": inbox.reference, "unit_hsa_id": inbox.organization_hsa_id, "inbox_kind": inbox.kind,
            "watches_per_day": required, "days": per_day,
            "compliance": {"open_days": len(open_days), "compliant_days": sum(d["compliant"] for d in open_days),
                           "ratio": round(sum(d["compliant"] for d in open_days) / len(open_days), 3) if open_days else None},
            **open_items.get(inbox.reference, _no_open_items()),
            "handled": handling.per_inbox.get(inbox.reference, _handled([])),
        })
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


_WINDOW_SECONDS = int(WINDOW.total_seconds())


@dataclass(frozen=True)
class _Schedule:
    """The parts of a period's days an inbox must be watched in (for one opening hours and requirement)."""

    days: list[tuple[date, str, int, bool]]  # day, ISO date, parts, whether its last part is over
    part_of: dict[int, tuple[int, int]]  # watch window number -> (day's position, part's position)

    @classmethod
    def of(cls, days: list[date], hours: calendar.Hours, required: int, now: datetime) -> "_Schedule":
        entries, part_of = [], {}
        for position, day in enumerate(days):
            parts = calendar.watch_parts(day, hours, required)
            entries.append((day, day.isoformat(), len(parts), bool(parts) and parts[-1].end <= now))
            for number, part in enumerate(parts):
                part_of.update(dict.fromkeys(range(window_number(part.start), window_number(part.end)), (position, number)))
        return cls(entries, part_of)

    def days_of(self, windows, done_by_day: dict[date, tuple[int, int]]) -> list[dict]:
        """Each day's watches (a part is watched when a watch window starts within it) and items done:
        `compliant` is None on a closed day and until its opening hours are over."""
        watched = Counter(day for day, _ in {self.part_of[w] for w in windows if w in self.part_of})
        found = []
        for position, (day, iso, parts, over) in enumerate(self.days):
            seen = watched.get(position, 0)
            done, by_proxy = done_by_day.get(day, (0, 0))
            found.append({"date": iso, "open": parts > 0, "required": parts, "watched": seen,
                          "compliant": (seen == parts) if over else None, "done": done, "done_by_proxy": by_proxy})
        return found


def window_number(instant: datetime) -> int:
    """The number of the first watch window starting at or after `instant` (windows since the epoch)."""
    return -(-int(instant.timestamp()) // _WINDOW_SECONDS)


# PostgreSQL: an inbox's windows as one array of window numbers (101,000 rows become 2,000).
_WATCHES_SQL = f"""
SELECT inbox, array_agg(div(extract(epoch from window_start)::bigint, {_WINDOW_SECONDS})) AS windows
FROM inbox_watch WHERE inbox = ANY(:inboxes) AND window_start >= :first AND window_start < :last GROUP BY inbox
"""


def _watches(session, references: list[str], first: datetime, last: datetime) -> dict[str, list[int]]:
    """Per inbox, the numbers of its watched windows in [first, last)."""
    if not references:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(_WATCHES_SQL), {"inboxes": references, "first": first, "last": last})
        return dict(rows.all())
    found: dict[str, list[int]] = {}
    for inbox, window in session.execute(select(WATCH.c.inbox, WATCH.c.window_start).where(
            WATCH.c.inbox.in_(references), WATCH.c.window_start >= first, WATCH.c.window_start < last)):
        found.setdefault(inbox, []).append(window_number(as_utc(window)))
    return found


def _no_open_items() -> dict:
    return {"open_items": {"total": 0, "by_age": {name: 0 for name, _, _ in AGE_BUCKETS}},
            "overdue": {"past_due": 0, **{f"{kind}_over_frame": 0 for kind in ("fk-question", "consult", "result")}}}


def _open_items(session, references: list[str], *, now: datetime, frames: dict[str, int]) -> dict[str, dict]:
    """Open items by age and the overdue ones, per inbox, in one grouped query."""
    if not references:
        return {}
    # The open statuses listed (not `!= completed`), so the index range holds only open items; the
    # arrival computed once per item (a subquery the planner keeps: OFFSET 0), each figure a FILTER.
    open_items = (select(ITEM.c.owner, ITEM.c.kind, ITEM.c.due,
                         func.coalesce(ITEM.c.created_at, ITEM.c.last_updated).label("arrived"))
                  .where(among(session, ITEM.c.owner, references), ITEM.c.status.in_(_open_statuses()),
                         ITEM.c.trashed_at.is_(None))
                  .offset(0).subquery())
    arrived = open_items.c.arrived
    ages = []
    for name, low, high in AGE_BUCKETS:
        condition = arrived <= now - timedelta(days=low)
        if high is not None:
            condition = and_(condition, arrived > now - timedelta(days=high))
        ages.append(func.count().filter(condition).label(name))
    overdue = [func.count().filter(open_items.c.due < now).label("past_due")]
    for kind in ("fk-question", "consult", "result"):
        limit = now - timedelta(days=frames.get(kind, 14))
        overdue.append(func.count().filter(and_(open_items.c.kind == kind, arrived < limit))
                       .label(kind.replace("-", "_") + "_over_frame"))
    rows = session.execute(
        select(open_items.c.owner, func.count().label("total"), *ages, *overdue).group_by(open_items.c.owner)).all()
    return {row.owner: {
        "open_items": {"total": row.total, "by_age": {name: getattr(row, name) for name, _, _ in AGE_BUCKETS}},
        "overdue": {"past_due": row.past_due,
                    **{f"{kind}_over_frame": getattr(row, kind.replace('-', '_') + '_over_frame')
                       for kind in ("fk-question", "consult", "result")}},
    } for row in rows}


@cache
def _open_statuses() -> tuple[str, ...]:
    return tuple(r["status"] for r in table("item_statuses") if r["status"] != "completed")


@dataclass(frozen=True)
class Handling:
    """Items done in the period: per inbox, per inbox and local day (done, by proxies), and all together."""

    per_inbox: dict[str, dict]
    per_day: dict[str, dict[date, tuple[int, int]]]
    overall: dict


def _handling(session, references: list[str], days: list[date]) -> Handling:
    if not references:
        return Handling({}, {}, _handled([]))
    if session.get_bind().dialect.name == "postgresql":
        return _handling_in_sql(session, references, days)
    return _handling_in_python(session, references, *_bounds(days[0], days[-1]))


# PostgreSQL, in one pass over `ix_inbox_item_owner_done` (index-only, in its order: no sort of
# the rows): per inbox and for all inboxes (grouping sets) the counts and nearest-rank
# percentiles, both of a duration from one sort (percentile_disc over an array, of seconds as
# float8, which sorts faster than numeric), and per inbox the local day each item was done
# (width_bucket over the days' starting instants), counted here (not sent for all inboxes together).
_SECONDS = "date_part('epoch', {end} - created_at)"
_DONE_IN_PERIOD = "FROM inbox_item WHERE owner = ANY(:owners) AND done_at >= :first AND done_at < :last"
_HANDLED_COLUMNS = f"""count(*) AS done, count(*) FILTER (WHERE done_by_proxy) AS by_proxy,
  percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {_SECONDS.format(end="opened_at")})
    FILTER (WHERE opened_at >= created_at) AS to_open,
  percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {_SECONDS.format(end="done_at")})
    FILTER (WHERE done_at >= created_at) AS to_done"""
_HANDLED_SQL = f"""
SELECT owner, GROUPING(owner) AS all_inboxes, {_HANDLED_COLUMNS},
  CASE WHEN GROUPING(owner) = 0 THEN array_agg(width_bucket(done_at, :starts)) END AS days,
  CASE WHEN GROUPING(owner) = 0 THEN array_agg(width_bucket(done_at, :starts)) FILTER (WHERE done_by_proxy) END
    AS proxy_days
{_DONE_IN_PERIOD} GROUP BY GROUPING SETS ((owner), ())
"""
_OVERALL_SQL = f"SELECT {_HANDLED_COLUMNS} {_DONE_IN_PERIOD}"


def _from_row(row) -> dict:
    def hours(values, position):
        return None if values is None or values[position] is None else round(values[position] / 3600, 2)

    return {"done": row.done, "by_proxy": row.by_proxy,
            "time_to_open_hours": {"p50": hours(row.to_open, 0), "p90": hours(row.to_open, 1)},
            "time_to_done_hours": {"p50": hours(row.to_done, 0), "p90": hours(row.to_done, 1)}}


def _per_day(days: list[date], buckets: list[int], proxy_buckets: list[int] | None) -> dict[date, tuple[int, int]]:
    """Items done per local day from their width_bucket numbers (1 = the first day)."""
    done, by_proxy = Counter(buckets), Counter(proxy_buckets or ())
    return {days[n - 1]: (count, by_proxy.get(n, 0)) for n, count in done.items()}


def _handling_in_sql(session, references, days: list[date]) -> Handling:
    session.execute(text("SET LOCAL work_mem = '64MB'"))  # this transaction's sorts, in memory
    starts = [_start_of(day) for day in days]
    first, last = _bounds(days[0], days[-1])
    per_inbox: dict[str, dict] = {}
    per_day: dict[str, dict[date, tuple[int, int]]] = {}
    overall = _handled([])
    for row in session.execute(text(_HANDLED_SQL), {"owners": references, "first": first, "last": last, "starts": starts}):
        if row.all_inboxes:
            overall = _from_row(row)
        else:
            per_inbox[row.owner] = _from_row(row)
            per_day[row.owner] = _per_day(days, row.days, row.proxy_days)
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
    report's days, and the handling of the items done that week. Run in the report's transaction (its
    custom plans hold for these reads too)."""
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
