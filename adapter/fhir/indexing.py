"""Extraction of search-index values from a resource (run once per write)."""

from __future__ import annotations

from adapter.fhir.registry import ResourceDefinition
from adapter.fhir.validation import parse_reference


def values_at(resource: dict, path: str) -> list:
    """Values at a dotted element path (`PractitionerRole.code`), arrays flattened."""
    current = [resource]
    for part in path.split(".")[1:]:
        following = []
        for node in current:
            if isinstance(node, dict) and part in node:
                value = node[part]
                following.extend(value if isinstance(value, list) else [value])
        current = following
    return current


def token_values(value) -> list[tuple[str, str]]:
    """(system, code) pairs of an Identifier, CodeableConcept, Coding, code or boolean."""
    if isinstance(value, bool):
        return [("", "true" if value else "false")]
    if isinstance(value, str):
        return [("", value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [pair for coding in value.get("coding", []) for pair in token_values(coding)]
    code = value.get("value", value.get("code"))
    if isinstance(code, str):
        return [(value.get("system") or "", code)]
    return []


def reference_target(value, base_url: str) -> tuple[str, str] | None:
    """(type, id) of a literal reference to this server, relative or absolute."""
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return None
    parsed = parse_reference(value["reference"])
    if parsed is None:
        return None
    base, target_type, target_id = parsed
    if base is not None and base != base_url:
        return None
    return target_type, target_id


def index_rows(definition: ResourceDefinition, resource: dict, *, base_url: str) -> tuple[list[dict], list[dict]]:
    """Rows for `search_token` and `search_reference` describing `resource`."""
    tokens: list[dict] = []
    references: list[dict] = []
    owner = {"resource_type": definition.name, "resource_id": resource["id"]}
    for param in definition.search_params.values():
        seen: set = set()
        for path in param.paths:
            for value in values_at(resource, path):
                if param.type == "token":
                    for system, code in token_values(value):
                        key = (system[:255], code[:255])
                        if key not in seen:
                            seen.add(key)
                            tokens.append({**owner, "param": param.name, "system": key[0], "value": key[1]})
                elif param.type == "reference":
                    target = reference_target(value, base_url)
                    if target and target not in seen:
                        seen.add(target)
                        references.append(
                            {**owner, "param": param.name, "target_type": target[0], "target_id": target[1]}
                        )
    return tokens, references
