"""The CapabilityStatement, generated from what is registered (never a hand-kept copy)."""

from __future__ import annotations

from adapter import __version__
from adapter.fhir.registry import COMMON_SEARCH_PARAMS, Registry

_COMMON = {
    "_id": ("token", "http://hl7.org/fhir/SearchParameter/Resource-id", "Logical id"),
    "_lastUpdated": ("date", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "When last changed (eq, gt, ge, lt, le)"),
}


def capability_statement(registry: Registry, *, base_url: str, software_date: str) -> dict:
    """A CapabilityStatement (FHIR 4.0.1) describing the registry's resources and operations."""
    resources = []
    for name in sorted(registry.resources):
        definition = registry.resources[name]
        params = [
            {"name": p, "type": _COMMON[p][0], "definition": _COMMON[p][1], "documentation": _COMMON[p][2]}
            for p in COMMON_SEARCH_PARAMS
        ]
        for param in definition.search_params.values():
            entry = {"name": param.name, "type": param.type, "documentation": param.description}
            if param.definition:
                entry["definition"] = param.definition
            params.append(entry)
        resource = {
            "type": name,
            "interaction": [{"code": code} for code in definition.interactions],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": "update" in definition.interactions and definition.update_creates,
            "conditionalCreate": "create" in definition.interactions,
            "conditionalUpdate": "update" in definition.interactions,
            "conditionalDelete": "not-supported",
            "searchInclude": list(definition.includes),
            "searchParam": params,
        }
        if definition.profile_url:
            resource["profile"] = definition.profile_url
        operations = [op for (rtype, _), op in sorted(registry.operations.items()) if rtype == name]
        if operations:
            resource["operation"] = [
                {"name": op.name, "definition": op.definition or f"{base_url}/OperationDefinition/{name}-{op.name}",
                 "documentation": op.description}
                for op in operations
            ]
        resources.append(resource)
    rest = {
        "mode": "server",
        "security": {"description": "Bearer tokens (sandbox issuer in sandbox mode)."},
        "resource": resources,
        "interaction": [{"code": "transaction"}, {"code": "batch"}],
    }
    if registry.system_operations:
        rest["operation"] = [
            {"name": op.name, "definition": op.definition or f"{base_url}/OperationDefinition/{op.name}", "documentation": op.description}
            for _, op in sorted(registry.system_operations.items())
        ]
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "kind": "instance",
        "software": {"name": "mc-adapter", "version": __version__},
        "implementation": {"description": "Meddelandecenter FHIR adapter", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [rest],
    }
    if registry.messaging:
        statement["messaging"] = [declare(base_url) for declare in registry.messaging]
    return statement
