"""FHIR dates and dateTimes as UTC periods (a date without a zone is a day in Europe/Stockholm)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_VALUE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def period(text: str) -> tuple[datetime, datetime]:
    """The UTC period [start, end) a FHIR date or dateTime value covers; ValueError if it is none."""
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
        end = start + (timedelta(seconds=1) if seconds else timedelta(minutes=1))
        if fraction:
            end = start + timedelta(microseconds=1)
    else:
        parts = [int(p) for p in text.split("-")]
        year, month, day = (parts + [1, 1])[:3]
        start = datetime.combine(datetime(year, month, day).date(), time(), STOCKHOLM)
        if len(parts) == 3:
            end = start + timedelta(days=1)
        elif len(parts) == 2:
            end = start.replace(year=year + month // 12, month=month % 12 + 1)
        else:
            end = start.replace(year=year + 1)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)
