from datetime import datetime, timezone

import pytest

from adapter.directory.registration import register
from adapter.errors import MalformedRequest
from adapter.fhir.registry import Registry
from adapter.fhir.search import CursorCodec, _date_range, parse_search

BASE = "https://fhir.example.test/fhir"


@pytest.fixture(scope="module")
def registry():
    registry = Registry()
    register(registry)
    return registry


def _parse(registry, params, strict=False):
    return parse_search(registry.resource("PractitionerRole"), params, strict=strict, base_url=BASE,
                        default_count=50, max_count=500, cursors=CursorCodec(b"k"))


def test_a_date_is_a_day_in_stockholm():
    prefix, start, end = _date_range("_lastUpdated", "2026-07-01")
    assert prefix == "eq"
    assert start == datetime(2026, 6, 30, 22, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 7, 1, 22, 0, tzinfo=timezone.utc)


def test_a_month_ends_at_the_next_month():
    _, start, end = _date_range("_lastUpdated", "ge2026-12")
    assert (end - start).days == 31


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "ne2026-01-01", "2026-01-01T25:00:00Z", "' OR 1=1 --"])
def test_bad_dates_are_a_400(value):
    with pytest.raises(MalformedRequest):
        _date_range("_lastUpdated", value)


def test_unknown_parameters_are_ignored_and_reported_when_lenient(registry):
    request = _parse(registry, [("colour", "blue"), ("role", "lakare")])
    assert request.ignored == ["colour"]
    assert request.honoured == [("role", "lakare")]


def test_unknown_parameters_are_a_400_when_strict(registry):
    with pytest.raises(MalformedRequest, match="unknown search parameter"):
        _parse(registry, [("colour", "blue")], strict=True)


def test_count_is_capped_and_must_be_a_number(registry):
    assert _parse(registry, [("_count", "100000")]).count == 500
    with pytest.raises(MalformedRequest):
        _parse(registry, [("_count", "-1")])


def test_unsupported_modifiers_are_refused(registry):
    with pytest.raises(MalformedRequest, match="modifier"):
        _parse(registry, [("role:text", "x")])


def test_include_must_name_a_reference_parameter_of_the_type(registry):
    assert _parse(registry, [("_include", "PractitionerRole:practitioner")]).includes[0].name == "practitioner"
    with pytest.raises(MalformedRequest):
        _parse(registry, [("_include", "PractitionerRole:role")])
    with pytest.raises(MalformedRequest):
        _parse(registry, [("_include", "Organization:partof")])


def test_a_reference_to_the_wrong_type_is_refused(registry):
    with pytest.raises(MalformedRequest):
        _parse(registry, [("practitioner", "Organization/1")])


def test_overlong_values_are_refused(registry):
    with pytest.raises(MalformedRequest):
        _parse(registry, [("identifier", "x" * 300)])


def test_a_tampered_cursor_is_refused():
    codec = CursorCodec(b"secret")
    cursor = codec.encode({"t": "Organization", "k": ["a"]})
    assert codec.decode(cursor) == {"t": "Organization", "k": ["a"]}
    body, _, signature = cursor.partition(".")
    with pytest.raises(MalformedRequest):
        codec.decode(body[:-2] + "AA." + signature)
    with pytest.raises(MalformedRequest):
        CursorCodec(b"other").decode(cursor)
