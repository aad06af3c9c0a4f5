"""The StructureDefinition-driven validator (adapter/fhir/profiles.py), without a database."""

from __future__ import annotations

import pytest

from adapter.fhir.profiles import Profiles
from adapter.resources import data_dir

BASE = "https://meddelandecenter-adapter.github.io/fhir"


@pytest.fixture(scope="module")
def profiles():
    return Profiles.load()


def _message(**changes) -> dict:
    resource = {
        "resourceType": "Communication", "status": "completed",
        "identifier": [{"system": "urn:example:s", "value": "1"}],
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": "message"}]}],
        "sender": {"reference": "HealthcareService/a"}, "recipient": [{"reference": "HealthcareService/b"}],
    }
    resource.update(changes)
    return resource


def test_a_conforming_message_has_no_issues(profiles):
    assert profiles.issues("Communication", _message()) == []


def test_a_fixed_value_a_minimum_and_a_fhirpath_invariant_are_each_reported(profiles):
    issues = profiles.issues("Communication", _message(status="preparation", identifier=[{"value": "x"}]))
    assert {(i.code, i.expression) for i in issues} == {
        ("value", "Communication.status"), ("invariant", "Communication")}
    missing = profiles.issues("Communication", {k: v for k, v in _message().items() if k != "sender"})
    assert [(i.code, i.expression) for i in missing] == [("required", "Communication.sender")]


def test_a_required_binding_refuses_an_unknown_code_of_our_system_and_a_missing_one(profiles):
    unknown = _message(category=[{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": "gossip"}]}])
    assert [i.code for i in profiles.issues("Communication", unknown)] == ["code-invalid"]
    foreign = _message(category=[{"coding": [{"system": "urn:other", "code": "message"}]}])
    assert [i.code for i in profiles.issues("Communication", foreign)] == ["code-invalid"]


def test_an_extension_slice_counts_only_extensions_of_its_url(profiles):
    sent_by = {"url": f"{BASE}/StructureDefinition/sent-by", "valueReference": {"reference": "Practitioner/p"}}
    other = {"url": "urn:example:other", "valueString": "x"}
    assert profiles.issues("Communication", _message(extension=[sent_by, other, dict(other)])) == []
    twice = profiles.issues("Communication", _message(extension=[sent_by, dict(sent_by)]))
    assert [(i.code, i.expression) for i in twice] == [("structure", "Communication.extension")]


def test_a_type_without_a_profile_has_no_issues(profiles):
    assert profiles.issues("Practitioner", {"resourceType": "Practitioner"}) == []


def test_slicing_other_than_extensions_is_refused_when_the_profile_is_compiled():
    definition = {"kind": "resource", "derivation": "constraint", "type": "Task", "url": "urn:x",
                  "differential": {"element": [{"id": "Task.input:first", "path": "Task.input", "min": 1}]}}
    with pytest.raises(ValueError, match="only extensions are sliced"):
        Profiles([definition]).by_type


def test_every_binding_slice_and_profile_of_ours_resolves_to_a_shipped_resource(profiles):
    folder = data_dir("fhir_profiles")
    for profile in profiles.by_type.values():
        for rule in profile.rules:
            if rule.slice_url:
                assert (folder / "StructureDefinition" / f"{rule.slice_url.rsplit('/', 1)[-1]}.json").is_file(), rule
            if rule.value_set:
                assert rule.codes, rule
    assert set(profiles.by_type) >= {"Communication", "Task", "DiagnosticReport", "ServiceRequest", "HealthcareService",
                                     "PractitionerRole", "Organization", "Subscription"}
