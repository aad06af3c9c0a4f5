"""Opening hours and the parts of a day a shared inbox must be watched in (plain Python, no I/O).

A unit is open on its weekdays between its opening and closing times, Europe/Stockholm
(`mappings/opening_hours.csv`: the regional default, and a unit's own row by HSA-id), and never
on a Swedish public holiday or a de facto one (midsommarafton, julafton, nyårsafton), from the
`holidays` package. An inbox watched N times a day (`mappings/watch_requirements.csv`) has its
open hours split in N equal parts; a part is covered when a watch falls in it. So "three times a
day" means spread over the day, as the routine means it, not three polls in a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

STOCKHOLM = ZoneInfo("Europe/Stockholm")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Hours:
    """When a unit is open: its weekdays (0 = Monday) and the local opening and closing times."""

    weekdays: frozenset[int]
    opens: time
    closes: time


@dataclass(frozen=True)
class Part:
    """One part of an open day an inbox must be watched in: [start, end) in UTC."""

    day: date
    number: int  # 1-based
    start: datetime
    end: datetime


def hours_from_rows(rows) -> dict[str, Hours]:
    """`unit HSA-id` (or "" for the regional default) -> Hours, from the table's rows."""
    found: dict[str, Hours] = {}
    for row in rows:
        days = row["weekdays"].split()
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown or not days:
            raise ValueError(f"opening_hours: unknown weekdays {unknown or days} for unit {row['unit']!r}")
        opens, closes = time.fromisoformat(row["opens"]), time.fromisoformat(row["closes"])
        if opens >= closes:
            raise ValueError(f"opening_hours: unit {row['unit']!r} closes before it opens")
        found[row["unit"].strip()] = Hours(frozenset(WEEKDAYS.index(d) for d in days), opens, closes)
    if "" not in found:
        raise ValueError("opening_hours: the regional default (a row with no unit) is missing")
    return found


@lru_cache(maxsize=64)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.Sweden(years=year, include_sundays=False, categories=("public", "de_facto"))


def is_holiday(day: date) -> bool:
    """A Swedish public holiday, or a de facto one (midsommarafton, julafton, nyårsafton)."""
    return day in _holidays(day.year)


def opening_of(day: date, hours: Hours) -> tuple[datetime, datetime] | None:
    """The day's open interval in UTC, or None when the unit is closed (weekday or holiday)."""
    if day.weekday() not in hours.weekdays or is_holiday(day):
        return None
    opens = datetime.combine(day, hours.opens, STOCKHOLM).astimezone(timezone.utc)
    closes = datetime.combine(day, hours.closes, STOCKHOLM).astimezone(timezone.utc)
    return opens, closes


def watch_parts(day: date, hours: Hours, watches_per_day: int) -> list[Part]:
    """The parts of the day's opening hours, each needing a watch (none on a closed day)."""
    opening = opening_of(day, hours)
    if opening is None or watches_per_day < 1:
        return []
    start, end = opening
    step = (end - start) / watches_per_day
    return [Part(day, n + 1, start + step * n, end if n == watches_per_day - 1 else start + step * (n + 1))
            for n in range(watches_per_day)]


def local_days(start: date, end: date) -> list[date]:
    """The local days from `start` to `end`, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def weeks(start: date, end: date) -> list[tuple[date, date]]:
    """The days `start`..`end` cut at Sundays: (first, last) of each (ISO) week's part."""
    found, day = [], start
    while day <= end:
        last = min(end, day + timedelta(days=6 - day.weekday()))
        found.append((day, last))
        day = last + timedelta(days=1)
    return found


def local_date(instant: datetime) -> date:
    """The Stockholm date of an instant."""
    return instant.astimezone(STOCKHOLM).date()
