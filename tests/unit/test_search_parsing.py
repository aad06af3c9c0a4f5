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


def _parse(registry, params, strict=False, type_name="PractitionerRole"):
    return parse_search(registry.resource(type_name), params, strict=strict, base_url=BASE,
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


def test_include_must_name_a_reference_parameter_of_the_type_under_strict_handling(registry):
    assert _parse(registry, [("_include", "PractitionerRole:practitioner")]).includes[0].name == "practitioner"
    with pytest.raises(MalformedRequest):
        _parse(registry, [("_include", "PractitionerRole:role")], strict=True)
    with pytest.raises(MalformedRequest):
        _parse(registry, [("_include", "Organization:partof")], strict=True)


def test_lenient_handling_reports_and_ignores_an_unknown_include(registry):
    request = _parse(registry, [("_include", "PractitionerRole:role")])
    assert request.includes == [] and request.ignored == ["_include=PractitionerRole:role"]


def test_an_include_may_name_the_r4_element_where_it_is_unambiguous(registry):
    request = _parse(registry, [("_include", "HealthcareService:providedBy")], type_name="HealthcareService")
    assert [p.name for p in request.includes] == ["organization"]


def test_include_star_names_every_reference_parameter_once(registry):
    request = _parse(registry, [("_include", "*"), ("_include", "PractitionerRole:practitioner")])
    names = [p.name for p in request.includes]
    assert sorted(names) == sorted(p.name for p in registry.resource("PractitionerRole").search_params.values()
                                   if p.type == "reference") and len(names) == len(set(names))


def test_a_chained_search_is_refused_not_ignored_even_when_lenient(registry):
    with pytest.raises(MalformedRequest, match="chained search"):
        _parse(registry, [("practitioner:Practitioner.family", "Testsson")])
    with pytest.raises(MalformedRequest, match="chained search"):
        _parse(registry, [("practitioner.name", "Testsson")])


def test_summary_count_and_count_zero_ask_for_the_total(registry):
    assert _parse(registry, [("_summary", "count")]).wants_count
    assert _parse(registry, [("_count", "0")]).wants_count
    assert _parse(registry, [("_total", "accurate")]).wants_count
    assert not _parse(registry, [("_total", "estimate")]).wants_count


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
