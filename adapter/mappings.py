"""The declarative tables of `mappings/` and the pinned CodeSystems, read once per process."""

from __future__ import annotations

import csv
from functools import cache

from adapter.identifiers import BASE
from adapter.resources import data_dir, load_json


def code_system_url(name: str) -> str:
    """Canonical URL of one of our CodeSystems."""
    return f"{BASE}/CodeSystem/{name}"


def extension_url(name: str) -> str:
    """Canonical URL of one of our extensions."""
    return f"{BASE}/StructureDefinition/{name}"


@cache
def codes(name: str) -> frozenset[str]:
    """The codes of the CodeSystem `fhir_profiles/CodeSystem/<name>.json`."""
    return frozenset(c["code"] for c in load_json("fhir_profiles", f"CodeSystem/{name}.json")["concept"])


@cache
def table(name: str) -> tuple[dict, ...]:
    """Rows of `mappings/<name>.csv` as dicts (booleans stay text: callers decide)."""
    with open(data_dir("mappings") / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))
