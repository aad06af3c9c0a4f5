"""FHIR dates and dateTimes as UTC periods (a date without a zone is a day in Europe/Stockholm)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_VALUE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
LATEST = datetime.max.replace(tzinfo=timezone.utc)


def _later(moment: datetime, **delta) -> datetime:
    """`moment + delta`, or the end of the calendar when that overflows."""
    try:
        return moment + timedelta(**delta)
    except OverflowError:
        return LATEST


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC; the calendar's first or last instant when UTC lies beyond year 1 or 9999."""
    try:
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return EARLIEST if moment.year == 1 else LATEST


def period(text: str) -> tuple[datetime, datetime]:
    """The UTC period [start, end) a FHIR date or dateTime value covers; ValueError if it is none.

    At the edges of the calendar (`9999-12-31T23:59:59-12:00`, `0001-01-01T00:00:00+14:00`) the
    period is clamped to the first or last representable instant instead of overflowing.
    """
    if not isinstance(text, str) or not _VALUE.match(text):
        raise ValueError(f"'{text}' is not a FHIR date or dateTime")
    if "T" in text:
        head, _, fraction = text.partition(".")
        zone = ""
        if fraction:
            digits = re.match(r"\d+", fraction).group(0)
            zone = fraction[len(digits):]
            text = f"{head}.{digits[:6]}{zone}"
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=STOCKHOLM)
        seconds = text.count(":") >= 2 and not re.search(r"T\d{2}:\d{2}([+-]|Z|$)", text)
        end = _later(start, seconds=1) if seconds else _later(start, minutes=1)
        if fraction:
            end = _later(start, microseconds=1)
    else:
        parts = [int(p) for p in text.split("-")]
        year, month, day = (parts + [1, 1])[:3]
        start = datetime.combine(datetime(year, month, day).date(), time(), STOCKHOLM)
        if len(parts) == 3:
            end = _later(start, days=1)
        elif year + month // 12 > 9999 or (len(parts) == 1 and year == 9999):
            end = LATEST
        elif len(parts) == 2:
            end = start.replace(year=year + month // 12, month=month % 12 + 1)
        else:
            end = start.replace(year=year + 1)
    return to_utc(start), to_utc(end)
