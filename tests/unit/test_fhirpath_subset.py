"""The FHIRPath subset compiled to Python agrees with fhirpathpy (issue #17: invariants without an interpreter)."""

import json

import pytest
from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.fhirpath_subset import compile_subset
from adapter.resources import data_dir

R4 = models["r4"]
SYSTEMS = ["urn:oid:1.2.752.29.4.19", "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/role", "urn:x"]
# Each shipped invariant, and more of the subset's shapes.
SHIPPED = sorted({c["expression"] for path in (data_dir("fhir_profiles") / "StructureDefinition").glob("*.json")
                  for e in json.loads(path.read_text())["differential"]["element"] for c in e.get("constraint", [])})
MORE = [
    "identifier.exists()", "identifier.empty()", "identifier.count() = 2", "identifier.value = 'a'",
    "identifier.where(system = 'urn:x').value != 'b'", "code.coding.where(system = 'urn:x' or code = 'b').exists()",
    "code.coding.where(system.exists() and code.empty()).count() = 0", "identifier.where(value = 'a').exists() or code.exists()",
]


def test_every_shipped_invariant_is_in_the_subset():
    assert SHIPPED and all(compile_subset(expression) is not None for expression in SHIPPED)


@pytest.mark.parametrize("expression", ["identifier.first()", "identifier.value.startsWith('a')", "a + b", "%resource.id",
                                        "identifier[0]", "identifier.where(", "value = true", "implies", "identifier implies code",
                                        "identifier.exists() xor code.exists()"])
def test_what_the_subset_does_not_know_is_left_to_fhirpathpy(expression):
    assert compile_subset(expression) is None


values = st.one_of(st.none(), st.sampled_from(["a", "b", ""]), st.integers(0, 2), st.booleans())
identifiers = st.lists(st.fixed_dictionaries({}, optional={"system": st.sampled_from(SYSTEMS + [None]), "value": values}),
                       max_size=3)
codings = st.lists(st.fixed_dictionaries({}, optional={"system": st.sampled_from(SYSTEMS), "code": values}), max_size=3)
resources = st.fixed_dictionaries({"resourceType": st.just("Basic")}, optional={
    "identifier": st.one_of(identifiers, st.fixed_dictionaries({"system": st.sampled_from(SYSTEMS), "value": values})),
    "code": st.fixed_dictionaries({}, optional={"coding": codings}),
    "type": st.lists(st.fixed_dictionaries({}, optional={"coding": codings}), max_size=2),
})


@settings(max_examples=300, deadline=None)
@given(resource=resources)
def test_the_subset_evaluates_as_fhirpathpy_does(resource):
    for expression in SHIPPED + MORE:
        assert compile_subset(expression)(resource) == compile_fhirpath(expression, R4)(resource), expression
