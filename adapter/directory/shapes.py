"""Reading the directory's FHIR shapes: the pinned codes, identifiers and extensions."""

from __future__ import annotations

from adapter.identifiers import HSA_ID, INBOX_ID, MILLENNIUM_GROUP, MILLENNIUM_PRACTITIONER
from adapter.mappings import code_system_url, extension_url

ORGANIZATION_KIND = code_system_url("organization-kind")
INBOX_KIND = code_system_url("inbox-kind")
ROLE = code_system_url("role")


def codings(concepts, system: str) -> list[str]:
    """Codes of `system` in a list of CodeableConcepts."""
    return [
        c.get("code")
        for concept in concepts or []
        for c in concept.get("coding", [])
        if c.get("system") == system
    ]


def identifier_values(resource: dict, system: str) -> list[str]:
    """Values of the resource's identifiers in `system`."""
    return [i.get("value") for i in resource.get("identifier", []) if i.get("system") == system]


def hsa_id(resource: dict) -> str | None:
    """The resource's HSA-id (its only one, once validated)."""
    values = identifier_values(resource, HSA_ID)
    return values[0] if values else None


def inbox_identifier(resource: dict) -> str | None:
    """A HealthcareService's inbox identifier."""
    values = identifier_values(resource, INBOX_ID)
    return values[0] if values else None


def millennium_id(resource: dict) -> str | None:
    """Where a Practitioner or HealthcareService is in Millennium: `Practitioner/<id>` or `Group/<id>`."""
    system, target = ((MILLENNIUM_PRACTITIONER, "Practitioner") if resource.get("resourceType") == "Practitioner"
                      else (MILLENNIUM_GROUP, "Group"))
    values = identifier_values(resource, system)
    return f"{target}/{values[0]}" if values else None


def organization_kind(resource: dict) -> str | None:
    """An Organization's `organization-kind`."""
    kinds = codings(resource.get("type"), ORGANIZATION_KIND)
    return kinds[0] if kinds else None


def inbox_kind(resource: dict) -> str | None:
    """A HealthcareService's `inbox-kind`."""
    kinds = codings(resource.get("type"), INBOX_KIND)
    return kinds[0] if kinds else None


def display_name(resource: dict) -> str | None:
    """A directory resource's name as people read it: a HealthcareService's or Organization's name, a user's
    HumanName (its text, or given names and family name)."""
    name = resource.get("name")
    if isinstance(name, str):
        return name or None
    if isinstance(name, list) and name:
        first = name[0]
        return first.get("text") or " ".join(filter(None, [*(first.get("given") or []), first.get("family")])) or None
    return None


def extension(resource: dict, name: str):
    """The first extension of ours named `name`, or None."""
    url = extension_url(name)
    for ext in resource.get("extension", []):
        if ext.get("url") == url:
            return ext
    return None


def reference_id(reference: dict | None, resource_type: str) -> str | None:
    """The id of a relative literal reference to `resource_type`."""
    ref = (reference or {}).get("reference", "")
    prefix = f"{resource_type}/"
    return ref[len(prefix):] if ref.startswith(prefix) else None


def is_active(resource: dict) -> bool:
    """`active` defaults to true in the directory resources."""
    return resource.get("active", True) is not False
