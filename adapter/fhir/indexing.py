"""Extraction of search-index values from a resource (run once per write)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from adapter.fhir import dates
from adapter.fhir.registry import ResourceDefinition
from adapter.fhir.validation import parse_reference


_STEP = re.compile(r"extension\('(?P<url>[^']+)'\)|[^.]+")


def values_at(resource: dict, path: str) -> list:
    """Values at a dotted element path, arrays flattened.

    `PractitionerRole.code`; an extension by its URL as in FHIRPath:
    `ServiceRequest.extension('https://.../responsible').valueReference`.
    """
    current = [resource]
    for step in list(_STEP.finditer(path))[1:]:
        part, url = ("extension", step["url"]) if step["url"] else (step.group(0), None)
        following = []
        for node in current:
            if isinstance(node, dict) and part in node:
                value = node[part]
                values = value if isinstance(value, list) else [value]
                if url is not None:
                    values = [v for v in values if isinstance(v, dict) and v.get("url") == url]
                following.extend(values)
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


def date_period(value):
    """(start, end) of a date, dateTime, instant or Period value, or None."""
    if isinstance(value, dict):
        low = dates.period(value["start"])[0] if isinstance(value.get("start"), str) else None
        high = dates.period(value["end"])[1] if isinstance(value.get("end"), str) else None
        if low is None and high is None:
            return None
        return (low or datetime(1, 1, 1, tzinfo=timezone.utc), high or datetime(9999, 12, 31, tzinfo=timezone.utc))
    try:
        return dates.period(value)
    except ValueError:
        return None


def index_rows(definition: ResourceDefinition, resource: dict, *, base_url: str) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows for `search_token`, `search_reference` and `search_date` describing `resource`."""
    tokens: list[dict] = []
    references: list[dict] = []
    periods: list[dict] = []
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
                    logical = value.get("identifier") if isinstance(value, dict) else None
                    for system, code in token_values(logical):
                        tokens.append({**owner, "param": f"{param.name}:identifier", "system": system[:255], "value": code[:255]})
                elif param.type == "date":
                    covered = date_period(value)
                    if covered:
                        periods.append({**owner, "param": param.name, "start": covered[0], "end": covered[1]})
    return tokens, references, periods
