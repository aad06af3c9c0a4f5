"""Conformance resources, served read-only, and `$validate`.

`GET /fhir/StructureDefinition`, `CodeSystem`, `ValueSet` and `SearchParameter` serve the files of
`fhir_profiles/` (our profiles, extensions, codes and search parameters); `OperationDefinition`
serves definitions generated from the registry's operations, at the URLs the CapabilityStatement
names. None of it is patient data: any caller with a token reads it, whatever its scopes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from adapter.errors import AdapterError, Issue, MalformedRequest
from adapter.fhir import bundles
from adapter.fhir.capability import operation_definition_url
from adapter.fhir.outcome import information, operation_outcome
from adapter.fhir.registry import Registry, ResourceDefinition, SearchParam, TypeOperation
from adapter.fhir.store import Stored
from adapter.resources import data_dir

FILE_TYPES = ("StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter")
SERVED_TYPES = FILE_TYPES + ("OperationDefinition",)
# Searched in memory (a few dozen resources): by these elements, each an exact match.
SEARCH_ELEMENTS = {"url": "url", "name": "name", "status": "status", "type": "type", "version": "version", "code": "code"}
_RESULT_PARAMS = {"_count", "_format", "_pretty", "_total", "_summary", "_id"}


@dataclass
class Library:
    """Every conformance resource served, by type and id."""

    by_type: dict[str, dict[str, Stored]]

    def read(self, resource_type: str, resource_id: str) -> Stored | None:
        """One resource, or None."""
        return self.by_type.get(resource_type, {}).get(resource_id)

    def matching(self, resource_type: str, criteria: list[tuple[str, str]]) -> list[Stored]:
        """The resources whose elements equal every criterion (a comma is an 'or')."""
        found = []
        for stored in self.by_type.get(resource_type, {}).values():
            resource = stored.as_dict()
            if all(_matches(resource, name, raw) for name, raw in criteria):
                found.append(stored)
        return found


def _matches(resource: dict, name: str, raw: str) -> bool:
    values = set(raw.split(","))
    if name == "_id":
        return resource.get("id") in values
    actual = resource.get(SEARCH_ELEMENTS[name])
    if isinstance(actual, dict):  # a CodeableConcept (Basic.code): any of its codes, with or without system|
        return any(c.get("code") in values or f"{c.get('system')}|{c.get('code')}" in values for c in actual.get("coding", []))
    if name == "url":  # a canonical may carry |version
        values = {v.partition("|")[0] for v in values}
    return actual in values


def operation_definitions(registry: Registry, base_url: str) -> list[dict]:
    """OperationDefinitions of every registered operation (instance, type and system level)."""
    found = []
    for (resource_type, _), op in sorted(registry.operations.items()):
        found.append(_operation_definition(base_url, op, resource_types=(resource_type,), instance=True, type_level=False))
    for _, op in sorted(registry.type_operations.items()):
        types = op.resource_types or tuple(sorted(registry.resources))
        found.append(_operation_definition(base_url, op, resource_types=types, instance=False, type_level=True))
    for _, op in sorted(registry.system_operations.items()):
        if op.definition is None:  # a standard operation (e.g. $process-message) links to HL7's definition
            found.append(_operation_definition(base_url, op, resource_types=(), instance=False, type_level=False))
    return found


def _operation_definition(base_url: str, op, *, resource_types: tuple[str, ...], instance: bool, type_level: bool) -> dict:
    single = resource_types[0] if len(resource_types) == 1 and instance else None
    url = operation_definition_url(base_url, single, op.name)
    definition = {
        "resourceType": "OperationDefinition",
        "id": url.rsplit("/", 1)[1],
        "url": url,
        "name": "".join(part.capitalize() for part in op.name.split("-")),
        "status": "active",
        "kind": "operation",
        "description": op.description,
        "affectsState": op.name not in ("validate",),
        "code": op.name,
        "system": not resource_types,
        "type": type_level,
        "instance": instance,
    }
    if resource_types:
        definition["resource"] = list(resource_types)
    parameters = [
        {"name": p.name, "use": p.use, "min": p.min, "max": p.max, "documentation": p.documentation, "type": p.type,
         **({"targetProfile": [p.target_profile]} if p.target_profile else {})}
        for p in getattr(op, "parameters", ())
    ]
    if parameters:
        definition["parameter"] = parameters
    return definition


def build_library(registry: Registry, base_url: str, loaded: datetime) -> Library:
    """Read `fhir_profiles/` and generate the OperationDefinitions."""
    by_type: dict[str, dict[str, Stored]] = {t: {} for t in (*SERVED_TYPES, *registry.published)}
    resources = []
    for resource_type in FILE_TYPES:
        for path in sorted((data_dir("fhir_profiles") / resource_type).glob("*.json")):
            resources.append(json.loads(path.read_text(encoding="utf-8")))
    resources += operation_definitions(registry, base_url)
    resources += [resource for makers in registry.published.values() for make in makers for resource in make(base_url)]
    for resource in resources:
        resource = {**resource, "meta": {"versionId": "1", "lastUpdated": loaded.isoformat(timespec="milliseconds").replace("+00:00", "Z")}}
        text = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        by_type[resource["resourceType"]][resource["id"]] = Stored(resource["resourceType"], resource["id"], 1, loaded, text)
    return Library(by_type)


def library(ctx) -> Library:
    """This process's library (built on first use, for the configured base URL)."""
    key = ("conformance", ctx.config.fhir_base_url)
    if key not in ctx.registry.derived:
        ctx.registry.derived[key] = build_library(ctx.registry, ctx.config.fhir_base_url, datetime.now(timezone.utc))
    return ctx.registry.derived[key]


def _search(resource_type: str):
    def search(ctx, *, params: list[tuple[str, str]], strict: bool, cursors) -> tuple[str, list[Stored]]:
        criteria, ignored, honoured, summary_count = [], [], [], False
        for name, raw in params:
            if name in SEARCH_ELEMENTS or name == "_id":
                criteria.append((name, raw))
            elif name == "_summary" and raw in ("count", "false"):
                summary_count = raw == "count"
            elif name in _RESULT_PARAMS:
                pass  # every match fits one page
            elif strict:
                raise MalformedRequest(Issue("not-supported", f"unknown search parameter '{name}' for {resource_type}", name))
            else:
                ignored.append(name)
                continue
            honoured.append((name, raw))
        found = sorted(library(ctx).matching(resource_type, criteria), key=lambda s: s.id)
        base = ctx.config.fhir_base_url
        entries = [] if summary_count else [
            bundles.entry(s, base_url=base, extra={"search": {"mode": "match"}}) for s in found]
        outcome = bundles.outcome_entry(ignored=ignored)
        if outcome is not None:
            entries.append(outcome)
        links = bundles.page_links(f"{base}/{resource_type}", honoured, cursor=None, next_cursor=None)
        return bundles.bundle("searchset", entries, links=links, total=len(found)), []
    return search


def _read(resource_type: str):
    return lambda ctx, resource_id: library(ctx).read(resource_type, resource_id)


def validate(ctx, definition: ResourceDefinition, body) -> tuple[int, dict]:
    """`POST /fhir/<type>/$validate`: every check a create runs on arrival, nothing stored.

    The body is the resource, or Parameters with parameter `resource`. The answer is 200 with an
    OperationOutcome listing every issue found (or one saying the resource is valid).
    """
    from adapter.fhir.service import normalise  # the same path a create takes, minus the write

    resource = _resource_to_validate(body)
    try:
        normalise(ctx, resource=resource, expected_type=definition.name)
    except AdapterError as error:
        return 200, operation_outcome(error.issues)
    return 200, information(f"the {definition.name} is valid: structure, base rules, profile and references")


def _resource_to_validate(body):
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in body.get("parameter") or []:
            if isinstance(parameter, dict) and parameter.get("name") == "resource" and isinstance(parameter.get("resource"), dict):
                return parameter["resource"]
        raise MalformedRequest.simple("Parameters for $validate need a parameter 'resource'", code="required",
                                      expression="Parameters.parameter")
    return body


def register(registry: Registry) -> None:
    """Serve the conformance resources and `$validate`."""
    for resource_type in (*SERVED_TYPES, *registry.published):
        registry.add_resource(ResourceDefinition(
            name=resource_type,
            search_params={name: SearchParam(name, "token", (f"{resource_type}.{element}",), f"The {element}")
                           for name, element in SEARCH_ELEMENTS.items()},
            read_handler=_read(resource_type),
            search_handler=_search(resource_type),
            interactions=("read", "search-type"),
            any_scope=True,
        ))
    registry.add_type_operation(TypeOperation(
        name="validate", handler=validate,
        description="Validate a resource as a create would (structure, the base spec's rules, our profiles, references); "
                    "nothing is stored",
        definition="http://hl7.org/fhir/OperationDefinition/Resource-validate",
    ))
