from adapter.app import build_registry
from adapter.fhir.capability import capability_statement


def test_the_capability_statement_lists_what_is_registered():
    registry = build_registry()
    statement = capability_statement(registry, base_url="https://x/fhir", software_date="2026-11-24",
                                     token_endpoint="https://x/auth/token")
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(registry.resources)
    role = resources["PractitionerRole"]
    assert {p["name"] for p in role["searchParam"]} >= {"_id", "_lastUpdated", "identifier", "practitioner", "organization", "service", "role"}
    assert "PractitionerRole:practitioner" in role["searchInclude"]
    assert [o["name"] for o in resources["Organization"]["operation"]] == ["merge", "validate"]


def test_each_type_claims_only_what_it_supports():
    statement = capability_statement(build_registry(), base_url="https://x/fhir", software_date="2026-11-24",
                                     token_endpoint="https://x/auth/token")
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for read_only in ("AuditEvent", "Provenance", "StructureDefinition"):
        assert "conditionalCreate" not in resources[read_only] and "conditionalUpdate" not in resources[read_only]
    assert resources["Task"]["versioning"] == "versioned-update"  # If-Match required (428 without)
    assert resources["Organization"]["versioning"] == "versioned"
    assert resources["Communication"]["conditionalCreate"] is True


def test_smart_on_fhir_is_declared_with_the_token_endpoint():
    statement = capability_statement(build_registry(), base_url="https://x/fhir", software_date="2026-11-24",
                                     token_endpoint="https://x/auth/token")
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = security["extension"][0]
    assert uris["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert uris["extension"] == [{"url": "token", "valueUri": "https://x/auth/token"}]
