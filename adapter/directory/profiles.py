"""Our profiles of the directory resources: pinned codes, required identifiers, immutable keys.

Each function is a `ResourceDefinition.profile` hook: (ctx, resource, previous or None).
"""

from __future__ import annotations

import secrets

from adapter.errors import Forbidden, Issue, RuleViolation, UnprocessableResource
from adapter.directory import rules, shapes
from adapter.fhir import store
from adapter.identifiers import HSA_ID, INBOX_ID
from adapter.mappings import codes


def _require(condition: bool, message: str, expression: str, code: str = "required") -> None:
    if not condition:
        raise UnprocessableResource(Issue(code=code, diagnostics=message, expression=expression))


def _check_codes(resource: dict, element: str, system: str, code_system: str) -> list[str]:
    found = shapes.codings(resource.get(element), system)
    allowed = codes(code_system)
    for code in found:
        _require(code in allowed, f"'{code}' is not a code of {system}", f"{resource['resourceType']}.{element}", "code-invalid")
    return found


def _exactly_one_hsa_id(resource: dict) -> str:
    values = shapes.identifier_values(resource, HSA_ID)
    _require(len(values) == 1, f"exactly one HSA-id identifier ({HSA_ID}) is required",
             f"{resource['resourceType']}.identifier")
    return values[0]


def _unchanged(resource: dict, previous: dict | None, value_of, what: str, expression: str) -> None:
    if previous is not None and value_of(previous) != value_of(resource):
        raise UnprocessableResource(Issue("invariant", f"{what} cannot change once set", expression))


def check_directory_write(ctx) -> None:
    """Only support and administration change the directory (MC-R32); the sandbox operator acts as them."""
    caller = ctx.caller
    if caller.is_adapter or caller.kind == "sandbox-operator":
        return
    if caller.kind == "user" and any(rules.administers_directory(r) for r in caller.roles):
        return
    raise Forbidden.simple("only förvaltning (support and administration) may change the directory (MC-R32)")


def organization_profile(ctx, resource: dict, previous: dict | None) -> None:
    """Organization: one HSA-id, one organization-kind, partOf a verksamhet, lifecycle by $merge."""
    check_directory_write(ctx)
    _exactly_one_hsa_id(resource)
    kinds = _check_codes(resource, "type", shapes.ORGANIZATION_KIND, "organization-kind")
    _require(len(kinds) == 1, "exactly one organization-kind coding is required", "Organization.type")
    _unchanged(resource, previous, shapes.hsa_id, "the HSA-id", "Organization.identifier")
    _unchanged(resource, previous, shapes.organization_kind, "the organization-kind", "Organization.type")
    parent_id = shapes.reference_id(resource.get("partOf"), "Organization")
    if parent_id is not None:
        parent = store.load_current(ctx.session, resource_type="Organization", resource_id=parent_id)
        _require(parent is not None and shapes.organization_kind(parent.as_dict()) == "verksamhet",
                 "partOf must refer to an Organization of kind verksamhet", "Organization.partOf", "invalid")
    successor_before = shapes.extension(previous or {}, "successor")
    if not ctx.caller.is_adapter and shapes.extension(resource, "successor") != successor_before:
        raise RuleViolation("MC-R31", "A successor is recorded by the $merge operation, not by an update.",
                            "Efterträdare anges med operationen $merge.", "Organization.extension")
    if successor_before is not None and shapes.is_active(resource):
        raise RuleViolation("MC-R31", "A unit merged into another cannot be reopened.",
                            "En sammanslagen enhet kan inte öppnas igen.", "Organization.active")


def practitioner_profile(ctx, resource: dict, previous: dict | None) -> None:
    """Practitioner = the personal inbox: one per user, named by one HSA-id (MC-R12)."""
    check_directory_write(ctx)
    _exactly_one_hsa_id(resource)
    _unchanged(resource, previous, shapes.hsa_id, "the HSA-id", "Practitioner.identifier")


def practitioner_role_profile(ctx, resource: dict, previous: dict | None) -> None:
    """PractitionerRole: practitioner, unit and one pinned role code; membership of inboxes."""
    check_directory_write(ctx)
    # practitioner and organization (1..1) and one role coding are the mc-role profile's (fhir/profiles.py).
    _check_codes(resource, "code", shapes.ROLE, "role")
    supervisor = shapes.extension(resource, "supervisor")
    if supervisor is not None:
        _require(shapes.reference_id(supervisor.get("valueReference"), "Practitioner") is not None,
                 "supervisor is a valueReference to a Practitioner", "PractitionerRole.extension", "invalid")
    authority = shapes.extension(resource, "signing-authority")
    if authority is not None:
        _require(isinstance(authority.get("valueBoolean"), bool), "signing-authority is a valueBoolean",
                 "PractitionerRole.extension", "invalid")


def healthcare_service_profile(ctx, resource: dict, previous: dict | None) -> None:
    """HealthcareService = a shared inbox; unit inboxes follow their unit (MC-R29, MC-R31)."""
    check_directory_write(ctx)
    kinds = _check_codes(resource, "type", shapes.INBOX_KIND, "inbox-kind")
    _require(len(kinds) == 1, "exactly one inbox-kind coding is required", "HealthcareService.type")
    provider_id = shapes.reference_id(resource.get("providedBy"), "Organization")
    _require(provider_id is not None, "providedBy (the inbox's unit) is required", "HealthcareService.providedBy")
    _unchanged(resource, previous, shapes.inbox_kind, "the inbox-kind", "HealthcareService.type")
    _unchanged(resource, previous, lambda r: r.get("providedBy", {}).get("reference"), "providedBy", "HealthcareService.providedBy")
    _unchanged(resource, previous, shapes.inbox_identifier, "the inbox identifier", "HealthcareService.identifier")
    if kinds[0] != "function" and not ctx.caller.is_adapter:
        if previous is None:
            raise RuleViolation("MC-R29", "Organisation-bound inboxes are created with their unit; create function inboxes instead.",
                                "Organisationsbundna inkorgar skapas med enheten.", "HealthcareService.type")
        if shapes.is_active(resource) != shapes.is_active(previous):
            raise RuleViolation("MC-R31", "An organisation-bound inbox opens and closes with its unit.",
                                "Organisationsbundna inkorgar följer enhetens livscykel.", "HealthcareService.active")
        return
    if previous is None and kinds[0] == "function":
        _new_function_inbox(ctx, resource, provider_id)


def _new_function_inbox(ctx, resource: dict, provider_id: str) -> None:
    """A function inbox (MC-R30, MC-R32): active provider, identifier under the provider's HSA-id."""
    provider = store.load_current(ctx.session, resource_type="Organization", resource_id=provider_id).as_dict()
    if not shapes.is_active(provider):
        raise RuleViolation("MC-R31", "The unit is closed; no inbox can be added to it.",
                            "Enheten är stängd; ingen inkorg kan läggas till.", "HealthcareService.providedBy")
    provider_hsa = shapes.hsa_id(provider)
    identifiers = shapes.identifier_values(resource, INBOX_ID)
    if not identifiers:
        resource.setdefault("identifier", []).append(
            {"system": INBOX_ID, "value": f"{provider_hsa}#function-{secrets.token_hex(4)}"}
        )
        return
    _require(len(identifiers) == 1 and identifiers[0].split("#")[0] == provider_hsa,
             f"a function inbox's identifier is '{provider_hsa}#<name>' (its unit's HSA-id)", "HealthcareService.identifier", "invalid")
    _require(identifiers[0].split("#")[1] not in {"meddelande", "samverkan"},
             "the suffixes meddelande and samverkan belong to the unit's own inboxes (MC-R29)", "HealthcareService.identifier", "invalid")


ENDPOINT_CONNECTION = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"


def endpoint_profile(ctx, resource: dict, previous: dict | None) -> None:
    """Endpoint = where an inbox's own system is pushed its messages (adapter/delivery): FHIR REST only.

    Its address is checked by the outbound client's rules (https; no internal address unless the
    host is allowed); credentials are configuration (MC_DESTINATIONS), never directory data.
    """
    from adapter.delivery.outbound import AddressRefused, check_url

    check_directory_write(ctx)
    connection = resource.get("connectionType") or {}
    _require(connection.get("system") == ENDPOINT_CONNECTION and connection.get("code") == "hl7-fhir-rest",
             f"connectionType {ENDPOINT_CONNECTION}|hl7-fhir-rest is the only kind delivered to",
             "Endpoint.connectionType", "not-supported")
    _require("header" not in resource, "credentials belong in configuration (MC_DESTINATIONS), never in the directory",
             "Endpoint.header", "security")
    mime_types = resource.get("payloadMimeType") or []
    _require(not mime_types or "application/fhir+json" in mime_types, "deliveries are application/fhir+json",
             "Endpoint.payloadMimeType", "not-supported")
    try:
        check_url(resource.get("address", ""), allowed_hosts=frozenset(ctx.config.outbound_allow_hosts))
    except AddressRefused as exc:
        raise UnprocessableResource(Issue("value", str(exc), "Endpoint.address")) from None
