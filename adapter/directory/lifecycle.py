"""Unit lifecycle (MC-R29, MC-R31): inboxes created with a unit, closed with it, and merges."""

from __future__ import annotations

from adapter.directory import lookups, rules, shapes
from adapter.directory.profiles import check_directory_write
from adapter.errors import MalformedRequest, UnprocessableResource
from adapter.fhir import service, store
from adapter.identifiers import INBOX_ID
from adapter.mappings import code_system_url, extension_url


def _unit_inbox(spec: rules.InboxSpec, *, unit_id: str, unit: dict) -> dict:
    """A unit's organisation-bound inbox, built from trusted values (no re-validation)."""
    return {
        "resourceType": "HealthcareService",
        "identifier": [{"system": INBOX_ID, "value": spec.identifier(shapes.hsa_id(unit))}],
        "active": True,
        "providedBy": {"reference": f"Organization/{unit_id}"},
        "type": [{"coding": [{"system": code_system_url("inbox-kind"), "code": spec.inbox_kind}]}],
        "name": f"{unit.get('name', shapes.hsa_id(unit))} {spec.name_suffix}",
    }


def _write_as_adapter(ctx, resource: dict, *, resource_id: str, previous) -> None:
    definition = ctx.registry.resource("HealthcareService")
    service.write(ctx.as_adapter(), definition=definition, resource=resource, resource_id=resource_id, previous=previous)


def ensure_unit_inboxes(ctx, *, unit_id: str, unit: dict) -> None:
    """Create the unit's missing organisation-bound inboxes and reopen closed ones (exactly once each)."""
    for spec in rules.unit_inboxes(shapes.organization_kind(unit)):
        existing_id = lookups.inbox_id_by_identifier(ctx.session, identifier=spec.identifier(shapes.hsa_id(unit)))
        if existing_id is None:
            _write_as_adapter(ctx, _unit_inbox(spec, unit_id=unit_id, unit=unit), resource_id=service.new_id(), previous=None)
            continue
        current = store.load_current(ctx.session, resource_type="HealthcareService", resource_id=existing_id, for_update=True)
        inbox = current.as_dict()
        if not shapes.is_active(inbox):
            inbox["active"] = True
            _write_as_adapter(ctx, inbox, resource_id=existing_id, previous=current)


def deactivate_unit_inboxes(ctx, *, unit_id: str) -> None:
    """Close every inbox of a closed unit: nothing new can be delivered to them (MC-R31)."""
    inbox_ids = lookups.referring_ids(ctx.session, resource_type="HealthcareService", param="organization",
                                      target_type="Organization", target_id=unit_id)
    for inbox_id in sorted(inbox_ids):
        current = store.load_current(ctx.session, resource_type="HealthcareService", resource_id=inbox_id, for_update=True)
        inbox = current.as_dict()
        if shapes.is_active(inbox):
            inbox["active"] = False
            _write_as_adapter(ctx, inbox, resource_id=inbox_id, previous=current)


def organization_after_write(ctx, resource: dict, previous: dict | None) -> None:
    """After an Organization is stored: keep its inboxes in step with its lifecycle."""
    if not rules.is_unit(shapes.organization_kind(resource)):
        return
    if shapes.is_active(resource):
        if previous is None or not shapes.is_active(previous) or shapes.hsa_id(previous) != shapes.hsa_id(resource):
            ensure_unit_inboxes(ctx, unit_id=resource["id"], unit=resource)
    elif previous is None or shapes.is_active(previous):
        deactivate_unit_inboxes(ctx, unit_id=resource["id"])


def _successor_reference(ctx, parameters) -> str:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise MalformedRequest.simple("the body is a Parameters resource", expression="resourceType")
    ctx.validator.validate(parameters, "Parameters")
    for parameter in parameters.get("parameter", []):
        if parameter.get("name") in ("successor", "target"):
            value = parameter.get("valueReference") or {}
            if "identifier" in value and "reference" not in value:
                found = lookups.organization_id_by_hsa(ctx.session, hsa_id=value["identifier"].get("value", "").upper())
                if found is None:
                    raise UnprocessableResource.simple("no unit has that HSA-id", code="not-found", expression="Parameters.parameter")
                return found
            successor_id = shapes.reference_id(value, "Organization")
            if successor_id:
                return successor_id
    raise MalformedRequest.simple("name the unit to merge into: parameter 'successor' with a valueReference to an Organization",
                                  code="required", expression="Parameters.parameter")


def merge_operation(ctx, resource_id: str, parameters) -> tuple[int, dict]:
    """`Organization/{A}/$merge`: close A, record B as its successor, close A's inboxes (MC-R31)."""
    check_directory_write(ctx)
    successor_id = _successor_reference(ctx, parameters)
    current = store.load_current(ctx.session, resource_type="Organization", resource_id=resource_id, for_update=True)
    if current is None:
        service.read(ctx, resource_type="Organization", resource_id=resource_id)  # raises the 404
    successor = store.load_current(ctx.session, resource_type="Organization", resource_id=successor_id)
    if successor is None:
        raise UnprocessableResource.simple(f"Organization/{successor_id} does not exist", code="not-found",
                                           expression="Parameters.parameter")
    unit, target = current.as_dict(), successor.as_dict()
    existing = shapes.extension(unit, "successor")
    done = rules.check_merge(
        unit_id=resource_id, unit_kind=shapes.organization_kind(unit), unit_active=shapes.is_active(unit),
        current_successor=shapes.reference_id((existing or {}).get("valueReference"), "Organization"),
        successor_id=successor_id, successor_kind=shapes.organization_kind(target), successor_active=shapes.is_active(target),
    )
    if done:
        return 200, unit
    unit["active"] = False
    unit.setdefault("extension", []).append(
        {"url": extension_url("successor"), "valueReference": {"reference": f"Organization/{successor_id}"}}
    )
    definition = ctx.registry.resource("Organization")
    stored = service.write(ctx.as_adapter(), definition=definition, resource=unit, resource_id=resource_id, previous=current)
    ctx.registry.emit(ctx, "unit-merged", unit_id=resource_id, successor_id=successor_id)
    return 200, stored.as_dict()
