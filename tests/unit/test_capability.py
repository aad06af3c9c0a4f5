from adapter.app import build_registry
from adapter.fhir.capability import capability_statement


def test_the_capability_statement_lists_what_is_registered():
    registry = build_registry()
    statement = capability_statement(registry, base_url="https://x/fhir", software_date="2026-11-24")
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(registry.resources)
    role = resources["PractitionerRole"]
    assert {p["name"] for p in role["searchParam"]} >= {"_id", "_lastUpdated", "identifier", "practitioner", "organization", "service", "role"}
    assert "PractitionerRole:practitioner" in role["searchInclude"]
    assert [o["name"] for o in resources["Organization"]["operation"]] == ["merge"]
