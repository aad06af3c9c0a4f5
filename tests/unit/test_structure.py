"""The compiled structural check (adapter/fhir/structure.py) accepts only what fhir.resources accepts (#17)."""

import copy
import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.bench.run import _communication
from adapter.fhir import structure
from adapter.resources import load_json

BASE = "https://mc-adapter.vgregion.se/fhir"


def _library_accepts(resource: dict) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(copy.deepcopy(resource))
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return False
    return True


def _corpus() -> list[dict]:
    directory = json.loads(json.dumps(load_json("adapter", "directory/sandbox_directory.json")))
    messages = [
        _communication("m1", "message", "HealthcareService/a", ["HealthcareService/b"], "Practitioner/p", patient=True),
        _communication("m2", "case-message", "HealthcareService/a", [], "Practitioner/p", part_of="Task/c"),
        _communication("m3", "message", "Practitioner/a", ["Practitioner/b", "HealthcareService/c"], None),
    ]
    messages[0]["sent"] = "2026-12-04T08:15:00+01:00"
    task = {"resourceType": "Task", "id": "t1", "meta": {"versionId": "2", "lastUpdated": "2026-12-04T07:15:00.123Z"},
            "status": "requested", "intent": "order", "priority": "urgent", "owner": {"reference": "HealthcareService/a"},
            "focus": {"reference": "Communication/m1"}, "for": {"identifier": {"system": "urn:oid:1.2.752.129.2.1.3.1",
                                                                                  "value": "191212121212"}},
            "restriction": {"period": {"end": "2026-12-11"}}, "input": [{"type": {"text": "note"}, "valueString": "x"}],
            "businessStatus": {"coding": [{"system": f"{BASE}/CodeSystem/item-state", "code": "unread"}]},
            "extension": [{"url": f"{BASE}/StructureDefinition/delivery-state", "valueCode": "pending"}]}
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"coding": [{"system": "http://loinc.org",
                                                                                          "code": "2345-7"}]},
              "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2026-12-01",
              "issued": "2026-12-01T10:00:00Z", "conclusion": "Normal"}
    return [entry["resource"] for entry in directory["entry"]] + messages + [task, report]


CORPUS = _corpus()
PATIENT_MESSAGE = next(r for r in CORPUS if r.get("subject") and r["resourceType"] == "Communication")


@pytest.mark.parametrize("resource", CORPUS, ids=lambda r: f"{r['resourceType']}-{r.get('id', '')}")
def test_the_resources_the_adapter_receives_take_the_compiled_path(resource):
    assert _library_accepts(resource)
    assert structure.accepts(resource["resourceType"], resource)


@pytest.mark.parametrize("change, why", [
    (lambda r: r.update(statusX="a"), "an unknown element"),
    (lambda r: r.update(_status={"extension": [{"url": "http://x", "valueString": "y"}]}), "a primitive's extension"),
    (lambda r: r.update(contained=[{"resourceType": "Patient"}]), "a contained resource"),
    (lambda r: r.update(sent="2026-13-01"), "a dateTime out of range"),
    (lambda r: r.update(sent="2026-12-01T10:00"), "a dateTime without seconds"),
    (lambda r: r.update(status=["completed"]), "a list for a single element"),
    (lambda r: r.update(sender=[r["sender"]]), "a list of references for one"),
    (lambda r: r.update(recipient=r["recipient"][0]), "one reference for a list"),
    (lambda r: r.pop("status"), "a required element missing"),
    (lambda r: r["payload"][0].update(contentAttachment={"url": "http://x"}), "two types of one choice element"),
    (lambda r: r["payload"][0].pop("contentString"), "a required choice element missing"),
    (lambda r: r["extension"][0].update(url=5), "a number for a uri"),
    (lambda r: r["identifier"][0].update(period={}), "an empty object"),
    (lambda r: r.update(fhir_comments="hi"), "fhir_comments"),
    (lambda r: r["sender"].update(resourceType="Reference"), "a resourceType inside an element"),
])
def test_what_the_compiled_check_does_not_accept_goes_to_the_library(change, why):
    resource = copy.deepcopy(PATIENT_MESSAGE)
    change(resource)
    assert not structure.accepts("Communication", resource), why


def test_a_resource_of_another_type_than_declared_is_not_accepted():
    assert not structure.accepts("Task", PATIENT_MESSAGE)
    assert not structure.accepts("NoSuchType", {"resourceType": "NoSuchType"})


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["", " ", "a b", "a  b", "completed", "2026-12-04", "2026-12-04T10:00:00Z", "2026-02-30",
                     "2026-12-04T10:00:00", "urn:oid:1.2", "HealthcareService/a", "abc-1.2", "a/b", "\x00", "1.5",
                     "http://x/y", "Zm9v", "T10:00:00", "10:00:00", "+1"]),
)
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["url", "value", "system", "code", "reference", "display", "valueString",
                                     "valueBoolean", "extension", "x", "_value", "id", "text", "coding"]), inner,
                    max_size=3)), max_leaves=6)
_KEYS = st.sampled_from(["valueString", "valueBoolean", "valueReference", "valueCode", "contentString", "contentReference",
                         "_status", "status__ext", "fhir_comments", "resourceType", "resource_type", "extension",
                         "modifierExtension", "id", "url", "unknown", "display", "reference", "identifier", "period"])


def _containers(node, found):
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            _containers(value, found)
    elif isinstance(node, list):
        found.append(node)
        for value in node:
            _containers(value, found)
    return found


@st.composite
def _mutated(draw):
    resource = copy.deepcopy(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 3))):
        container = draw(st.sampled_from(_containers(resource, [])))
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        kind = draw(st.sampled_from(["replace", "delete", "wrap", "unwrap", "add", "empty"]))
        if kind == "add" and isinstance(container, dict):
            container[draw(_KEYS)] = draw(_JSON)
            continue
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        value = container[key]
        if kind == "replace":
            container[key] = draw(_JSON)
        elif kind == "delete":
            del container[key]
        elif kind == "wrap":
            container[key] = [value]
        elif kind == "unwrap" and isinstance(value, list) and value:
            container[key] = value[0]
        elif kind == "empty":
            container[key] = {} if isinstance(value, dict) else [] if isinstance(value, list) else ""
    return resource


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_whatever_the_compiled_check_accepts_the_library_accepts(resource):
    resource_type = resource.get("resourceType")
    if isinstance(resource_type, str) and structure.accepts(resource_type, resource):
        assert _library_accepts(resource), json.dumps(resource)
