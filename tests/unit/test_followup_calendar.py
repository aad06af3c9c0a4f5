"""Opening hours, holidays and the parts of a day an inbox is watched in (adapter/followup/calendar.py)."""

from datetime import date, datetime, timezone

import pytest

from adapter.followup import calendar
from adapter.followup.watches import window_of
from adapter.mappings import table

DEFAULT = calendar.hours_from_rows(table("opening_hours"))[""]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_a_winter_weekday_is_open_08_to_17_stockholm():
    assert calendar.opening_of(date(2026, 11, 23), DEFAULT) == (utc(2026, 11, 23, 7), utc(2026, 11, 23, 16))


def test_summer_time_moves_the_utc_hours():
    assert calendar.opening_of(date(2026, 3, 30), DEFAULT) == (utc(2026, 3, 30, 6), utc(2026, 3, 30, 15))


@pytest.mark.parametrize("day", [date(2026, 11, 28), date(2026, 11, 29), date(2026, 6, 19), date(2026, 12, 24),
                                 date(2026, 12, 31), date(2026, 1, 6), date(2026, 4, 6), date(2026, 6, 6)])
def test_weekends_public_and_de_facto_holidays_are_closed(day):
    assert calendar.opening_of(day, DEFAULT) is None and calendar.watch_parts(day, DEFAULT, 3) == []


def test_the_day_before_midsummer_eve_is_a_working_day():
    assert calendar.opening_of(date(2026, 6, 18), DEFAULT) is not None


def test_three_watches_a_day_split_the_open_hours_in_equal_thirds():
    parts = calendar.watch_parts(date(2026, 11, 23), DEFAULT, 3)
    assert [(p.start, p.end) for p in parts] == [(utc(2026, 11, 23, 7), utc(2026, 11, 23, 10)),
                                                  (utc(2026, 11, 23, 10), utc(2026, 11, 23, 13)),
                                                  (utc(2026, 11, 23, 13), utc(2026, 11, 23, 16))]


def test_a_unit_has_its_own_hours_and_others_keep_the_default():
    rows = table("opening_hours") + ({"unit": "SE2120000001-E000000000301", "weekdays": "mon tue wed thu fri sat sun",
                                      "opens": "07:00", "closes": "21:00", "rule": "MC-R34", "note": ""},)
    hours = calendar.hours_from_rows(rows)
    saturday = date(2026, 11, 28)
    assert calendar.opening_of(saturday, hours["SE2120000001-E000000000301"]) == (utc(2026, 11, 28, 6), utc(2026, 11, 28, 20))
    assert calendar.opening_of(saturday, hours[""]) is None


@pytest.mark.parametrize("row", [{"unit": "", "weekdays": "mon funday", "opens": "08:00", "closes": "17:00"},
                                 {"unit": "", "weekdays": "mon", "opens": "17:00", "closes": "08:00"}])
def test_a_bad_opening_hours_row_is_refused_at_start(row):
    with pytest.raises(ValueError):
        calendar.hours_from_rows([row])


def test_a_table_without_the_regional_default_is_refused():
    with pytest.raises(ValueError):
        calendar.hours_from_rows([{"unit": "X", "weekdays": "mon", "opens": "08:00", "closes": "17:00"}])


def test_watch_windows_are_quarter_hours():
    assert window_of(utc(2026, 11, 23, 7, 44, 59)) == utc(2026, 11, 23, 7, 30)
    assert window_of(utc(2026, 11, 23, 7, 45)) == utc(2026, 11, 23, 7, 45)
