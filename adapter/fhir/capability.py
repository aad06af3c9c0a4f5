"""The CapabilityStatement, generated from what is registered (never a hand-kept copy)."""

from __future__ import annotations

from adapter import __version__
from adapter.fhir.registry import COMMON_SEARCH_PARAMS, Registry

_COMMON = {
    "_id": ("token", "http://hl7.org/fhir/SearchParameter/Resource-id", "Logical id"),
    "_lastUpdated": ("date", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "When last changed (eq, gt, ge, lt, le)"),
}


SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
RESTFUL_SECURITY = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def operation_definition_url(base_url: str, resource_type: str | None, name: str) -> str:
    """Where the OperationDefinition of an operation is served (and its canonical URL)."""
    return f"{base_url}/OperationDefinition/{resource_type + '-' if resource_type else ''}{name}"


def _security(token_endpoint: str) -> dict:
    """SMART on FHIR: the token endpoint as fhirclient and sekmet look for it (oauth-uris), and the service code."""
    return {
        "extension": [{"url": SMART_OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_endpoint}]}],
        "cors": False,
        "service": [{"coding": [{"system": RESTFUL_SECURITY, "code": "SMART-on-FHIR"}],
                     "text": "SMART Backend Services (client_credentials, private_key_jwt); user tokens from the region's OpenID Connect issuer"}],
        "description": "Bearer tokens. Discovery: .well-known/smart-configuration at the server root and under the FHIR base.",
    }


def _resource_entry(definition, base_url: str, registry: Registry) -> dict:
    """One type's entry, stated from what the type supports (nothing claimed that it does not do)."""
    name = definition.name
    params = [
        {"name": p, "type": _COMMON[p][0], "definition": _COMMON[p][1], "documentation": _COMMON[p][2]}
        for p in COMMON_SEARCH_PARAMS
    ]
    for param in definition.search_params.values():
        entry = {"name": param.name, "type": param.type, "documentation": param.description}
        if param.definition:
            entry["definition"] = param.definition
        params.append(entry)
    offered = definition.interactions
    resource = {"type": name, "interaction": [{"code": code} for code in offered]}
    if definition.capability_extensions:
        resource["extension"] = [dict(e) for e in definition.capability_extensions]
    if definition.profile_url:
        resource["profile"] = definition.profile_url
    if "vread" in offered:
        # Every version is kept; types whose updates must name the version they change say so.
        resource["versioning"] = "versioned-update" if definition.require_if_match else "versioned"
        resource["readHistory"] = True
    if "update" in offered:
        resource["updateCreate"] = definition.update_creates
        resource["conditionalUpdate"] = True
    if "create" in offered:
        resource["conditionalCreate"] = True
    if "read" in offered and definition.read_handler is None:
        resource["conditionalRead"] = "full-support"
    resource["conditionalDelete"] = "not-supported"
    if definition.includes:
        resource["searchInclude"] = [*definition.includes, "*"]
    resource["searchParam"] = params
    operations = [op for (rtype, _), op in sorted(registry.operations.items()) if rtype == name]
    operations += [op for _, op in sorted(registry.type_operations.items()) if not op.resource_types or name in op.resource_types]
    if operations:
        resource["operation"] = [
            {"name": op.name, "definition": op.definition or operation_definition_url(base_url, name, op.name),
             "documentation": op.description}
            for op in operations
        ]
    return resource


def capability_statement(registry: Registry, *, base_url: str, software_date: str, token_endpoint: str) -> dict:
    """A CapabilityStatement (FHIR 4.0.1) describing the registry's resources and operations."""
    resources = [_resource_entry(registry.resources[name], base_url, registry) for name in sorted(registry.resources)]
    rest = {
        "mode": "server",
        "security": _security(token_endpoint),
        "resource": resources,
        "interaction": [{"code": "transaction"}, {"code": "batch"}],
    }
    if registry.system_operations:
        rest["operation"] = [
            {"name": op.name, "definition": op.definition or operation_definition_url(base_url, None, op.name), "documentation": op.description}
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
    if registry.instantiates:
        statement["instantiates"] = list(registry.instantiates)
    if registry.messaging:
        statement["messaging"] = [declare(base_url) for declare in registry.messaging]
    return statement
