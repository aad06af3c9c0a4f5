import pytest

from adapter.errors import MalformedRequest, UnprocessableResource
from adapter.fhir.validation import BaseDefinitions, ResourceValidator, parse_json


@pytest.fixture(scope="module")
def validator():
    return ResourceValidator(BaseDefinitions.load())


def _expressions(error) -> list[str]:
    return [i.expression for i in error.issues]


def test_a_string_where_a_boolean_belongs_is_a_structure_error(validator):
    # fhir.resources would coerce "yes" to true; the base layer refuses it.
    with pytest.raises(MalformedRequest) as caught:
        validator.validate({"resourceType": "PractitionerRole", "active": "yes"})
    assert _expressions(caught.value) == ["PractitionerRole.active"]


def test_an_unknown_element_is_named_in_the_expression(validator):
    with pytest.raises(MalformedRequest) as caught:
        validator.validate({"resourceType": "Organization", "colour": "blue"})
    assert _expressions(caught.value) == ["Organization.colour"]


def test_a_code_outside_a_required_binding_is_unprocessable(validator):
    with pytest.raises(UnprocessableResource) as caught:
        validator.validate({"resourceType": "Task", "status": "sleeping", "intent": "order"})
    assert caught.value.issues[0].code == "code-invalid"
    assert _expressions(caught.value) == ["Task.status"]


def test_a_required_binding_inside_a_backbone_element_is_checked(validator):
    with pytest.raises(UnprocessableResource) as caught:
        validator.validate({"resourceType": "PractitionerRole", "availableTime": [{"daysOfWeek": ["mon", "someday"]}]})
    assert _expressions(caught.value) == ["PractitionerRole.availableTime[0].daysOfWeek[1]"]


def test_a_reference_to_a_disallowed_target_type_is_refused(validator):
    with pytest.raises(UnprocessableResource) as caught:
        validator.validate({"resourceType": "PractitionerRole", "practitioner": {"reference": "Organization/1"}})
    assert "not allowed" in caught.value.issues[0].diagnostics


def test_contained_and_bundled_resources_are_walked_too(validator):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "PractitionerRole", "practitioner": {"reference": "HealthcareService/1"}}}]}
    with pytest.raises(UnprocessableResource) as caught:
        validator.validate(bundle)
    assert _expressions(caught.value) == ["Bundle.entry[0].resource.practitioner.reference"]


def test_r4b_only_resource_types_are_refused(validator):
    with pytest.raises(MalformedRequest, match="not a FHIR R4"):
        validator.validate({"resourceType": "SubscriptionTopic", "status": "active", "url": "http://x"})


def test_resource_type_must_match_the_endpoint(validator):
    with pytest.raises(MalformedRequest, match="does not match"):
        validator.validate({"resourceType": "Practitioner"}, "Organization")


def test_a_valid_resource_passes(validator):
    assert validator.validate({"resourceType": "Task", "status": "requested", "intent": "order"}) == "Task"


def test_deeply_nested_json_is_refused_without_recursing():
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(MalformedRequest):
        parse_json(body, max_depth=32, max_elements=1000)


def test_json_with_too_many_elements_is_refused():
    with pytest.raises(MalformedRequest, match="more than"):
        parse_json(b"[" + b",".join([b"1"] * 2000) + b"]", max_depth=32, max_elements=1000)


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"nul", b'{"a": NaN'])
def test_malformed_json_is_a_400(body):
    with pytest.raises(MalformedRequest):
        parse_json(body, max_depth=32, max_elements=1000)
