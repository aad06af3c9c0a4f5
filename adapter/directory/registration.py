"""The directory's resource types, search parameters and operations, registered in one call."""

from __future__ import annotations

from adapter.directory import lifecycle, profiles, readmodel
from adapter.directory.inboxes import existing_inboxes, prefetch_inboxes
from adapter.fhir.registry import Operation, OperationParameter, Registry, ResourceDefinition, SearchParam
from adapter.identifiers import HSA_ID, INBOX_ID, MILLENNIUM_GROUP, MILLENNIUM_PRACTITIONER

R4 = "http://hl7.org/fhir/SearchParameter"


def _params(*params: SearchParam) -> dict[str, SearchParam]:
    return {p.name: p for p in params}


def _identifier(resource: str) -> SearchParam:
    return SearchParam("identifier", "token", (f"{resource}.identifier",), "An identifier (both HSA-id systems accepted)",
                       definition=f"{R4}/{resource}-identifier")


def _active(resource: str) -> SearchParam:
    return SearchParam("active", "token", (f"{resource}.active",), "Whether it is active", definition=f"{R4}/{resource}-active")


def _endpoint(resource: str) -> SearchParam:
    return SearchParam("endpoint", "reference", (f"{resource}.endpoint",), "Where the inbox's system is pushed its messages",
                       targets=("Endpoint",), definition=f"{R4}/{resource}-endpoint")


def _both(first, second):
    def hook(ctx, resource, previous):
        first(ctx, resource, previous)
        second(ctx, resource, previous)
    return hook


def register(registry: Registry) -> None:
    """Serve Organization, Practitioner, PractitionerRole and HealthcareService, and `$merge`."""
    registry.add_reference_prefetcher(prefetch_inboxes)
    registry.add_resource(ResourceDefinition(
        name="Organization",
        search_params=_params(
            _identifier("Organization"), _active("Organization"),
            SearchParam("type", "token", ("Organization.type",), "The organization-kind", definition=f"{R4}/Organization-type"),
            SearchParam("partof", "reference", ("Organization.partOf",), "The verksamhet above the unit",
                        targets=("Organization",), definition=f"{R4}/Organization-partof"),
            _endpoint("Organization"),
        ),
        profile=profiles.organization_profile,
        after_write=_both(lifecycle.organization_after_write, readmodel.after_unit),
        unique_identifier_systems=(HSA_ID,),
    ))
    registry.add_resource(ResourceDefinition(
        name="Practitioner",
        search_params=_params(_identifier("Practitioner"), _active("Practitioner")),
        profile=profiles.practitioner_profile,
        after_write=readmodel.after_practitioner,
        exists_many=existing_inboxes("Practitioner"),
        unique_identifier_systems=(HSA_ID, MILLENNIUM_PRACTITIONER),
    ))
    registry.add_resource(ResourceDefinition(
        name="PractitionerRole",
        search_params=_params(
            _identifier("PractitionerRole"), _active("PractitionerRole"),
            SearchParam("practitioner", "reference", ("PractitionerRole.practitioner",), "The user",
                        targets=("Practitioner",), definition=f"{R4}/PractitionerRole-practitioner"),
            SearchParam("organization", "reference", ("PractitionerRole.organization",), "The unit of the assignment",
                        targets=("Organization",), definition=f"{R4}/PractitionerRole-organization"),
            SearchParam("service", "reference", ("PractitionerRole.healthcareService",), "Shared inboxes the user is a member of",
                        targets=("HealthcareService",), definition=f"{R4}/PractitionerRole-service"),
            SearchParam("role", "token", ("PractitionerRole.code",), "The role code", definition=f"{R4}/PractitionerRole-role"),
        ),
        profile=profiles.practitioner_role_profile,
        after_write=readmodel.after_role,
    ))
    registry.add_resource(ResourceDefinition(
        name="HealthcareService",
        search_params=_params(
            _identifier("HealthcareService"), _active("HealthcareService"),
            SearchParam("organization", "reference", ("HealthcareService.providedBy",), "The inbox's unit",
                        targets=("Organization",), definition=f"{R4}/HealthcareService-organization"),
            SearchParam("service-type", "token", ("HealthcareService.type",), "The inbox-kind",
                        definition=f"{R4}/HealthcareService-service-type"),
            _endpoint("HealthcareService"),
        ),
        profile=profiles.healthcare_service_profile,
        after_write=readmodel.after_inbox,
        exists_many=existing_inboxes("HealthcareService"),
        unique_identifier_systems=(INBOX_ID, MILLENNIUM_GROUP),
    ))
    registry.add_resource(ResourceDefinition(
        name="Endpoint",
        search_params=_params(
            _identifier("Endpoint"),
            SearchParam("status", "token", ("Endpoint.status",), "active, suspended, off, ...", definition=f"{R4}/Endpoint-status"),
            SearchParam("organization", "reference", ("Endpoint.managingOrganization",), "The organisation managing it",
                        targets=("Organization",), definition=f"{R4}/Endpoint-organization"),
        ),
        profile=profiles.endpoint_profile,
        after_write=readmodel.after_endpoint,
    ))
    registry.add_operation(Operation(
        resource_type="Organization",
        name="merge",
        handler=lifecycle.merge_operation,
        description="Merge this unit into the unit named by parameter 'successor': this unit and its inboxes close (MC-R31)",
        parameters=(
            OperationParameter("successor", "in", "Reference", "The unit this one merges into (by id or HSA-id identifier)",
                               min=1, target_profile="http://hl7.org/fhir/StructureDefinition/Organization"),
            OperationParameter("return", "out", "Organization", "The closed unit, with its successor recorded", min=1),
        ),
    ))
