"""Create, update, read and history of resources: the FHIR base's service functions.

Each takes a `Context` and keyword arguments; none commits.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from adapter.errors import (
    MalformedRequest, NotFound, NotSupported, PreconditionFailed, PreconditionRequired, UnprocessableResource,
)
from adapter.fhir import access, store
from adapter.fhir.models import ResourceOrigin
from adapter.fhir.references import normalise_identifiers, resolve_references
from adapter.fhir.registry import ResourceDefinition
from adapter.fhir.search import search_ids
from adapter.fhir.store import Stored
from adapter.uuids import time_ordered_uuid
from adapter.writes import insert_later


def definition_for(ctx, resource_type: str) -> ResourceDefinition:
    """The served definition of `resource_type`, or 404."""
    definition = ctx.registry.resource(resource_type)
    if definition is None:
        raise NotFound.simple(f"resource type '{resource_type}' is not served here", code="not-supported")
    return definition


def new_id() -> str:
    """A server-assigned logical id."""
    return time_ordered_uuid()  # ordered: each table's new rows share its right-edge pages


def normalise(ctx, *, resource: dict, expected_type: str | None, pending: set[str] = frozenset()) -> ResourceDefinition:
    """Validate once and normalise `resource` in place; return its definition.

    Structure (fhir.resources), identifiers and references, then the base spec's rules.
    """
    resource_type = ctx.validator.check_resource_type(resource, expected_type)
    definition = ctx.registry.resource(resource_type)
    if definition is None:
        raise MalformedRequest.simple(f"resource type '{resource_type}' is not accepted here", code="not-supported")
    ctx.validator.check_structure(resource_type, resource)
    normalise_identifiers(resource)
    resolve_references(ctx, resource, pending=pending)
    ctx.validator.check_base_rules(resource_type, resource)
    ctx.validator.check_profile(resource_type, resource)
    return definition


def apply_profile(ctx, *, definition: ResourceDefinition, resource: dict, previous: Stored | None) -> None:
    """Our profile of the type: pinned codes, domain constraints, the rules of the routine."""
    if definition.profile is not None:
        definition.profile(ctx, resource, previous.as_dict() if previous else None)


def prepare(ctx, *, resource: dict, expected_type: str | None, previous: Stored | None, pending: set[str] = frozenset()) -> ResourceDefinition:
    """`normalise`, then `apply_profile`."""
    definition = normalise(ctx, resource=resource, expected_type=expected_type, pending=pending)
    apply_profile(ctx, definition=definition, resource=resource, previous=previous)
    return definition


_TYPE_LEVEL = {"create", "search-type"}


def require_interaction(definition: ResourceDefinition, interaction: str) -> None:
    """405 (with `Allow`) when the type does not offer `interaction` (e.g. clients do not create inbox items)."""
    if interaction not in definition.interactions:
        level = "type" if interaction in _TYPE_LEVEL else "instance"
        raise not_supported(f"{definition.name} does not support {interaction} here", definition.allowed_methods(level))


def not_supported(message: str, allow: tuple[str, ...]) -> NotSupported:
    """A 405 whose `Allow` header lists what the URL does answer."""
    error = NotSupported.simple(message)
    error.allow = allow
    return error


def write(ctx, *, definition: ResourceDefinition, resource: dict, resource_id: str, previous: Stored | None) -> Stored:
    """Persist a prepared resource and run its type's after-write hook."""
    stored = store.persist(
        ctx.session,
        definition=definition,
        resource=resource,
        resource_id=resource_id,
        previous=previous,
        now=ctx.clock(),
        base_url=ctx.config.fhir_base_url,
    )
    if previous is None and definition.records_origin and ctx.caller.kind == "client":
        insert_later(ctx.session.connection(), ResourceOrigin.__table__, [dict(
            resource_type=definition.name, resource_id=resource_id,
            organization_hsa_id=ctx.caller.organization_hsa_id, client_id=ctx.caller.client_name)])
    if definition.after_write is not None:
        definition.after_write(ctx, resource, previous.as_dict() if previous else None)
    return stored


def write_new_many(ctx, *, definition: ResourceDefinition, resources: list[dict]) -> list[Stored]:
    """Persist several new, trusted resources together (e.g. a message's items) and run the hooks."""
    for resource in resources:
        resource.setdefault("id", new_id())
    stored = store.persist_new_many(ctx.session, definition=definition, resources=resources, now=ctx.clock(),
                                    base_url=ctx.config.fhir_base_url)
    if definition.after_write_many is not None:
        definition.after_write_many(ctx, resources)
    elif definition.after_write is not None:
        for resource in resources:
            definition.after_write(ctx, resource, None)
    return stored


def find_by_criteria(ctx, *, resource_type: str, criteria: str, limit: int = 2) -> list[str]:
    """Ids matching a conditional query string (`identifier=sys|val`)."""
    definition = definition_for(ctx, resource_type)
    params = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
    if not params:
        raise MalformedRequest.simple("a conditional request needs search criteria")
    return search_ids(ctx, definition=definition, params=params, limit=limit)


def create(
    ctx,
    *,
    resource: dict,
    expected_type: str | None = None,
    if_none_exist: str | None = None,
    resource_id: str | None = None,
    pending: set[str] = frozenset(),
) -> tuple[Stored, bool]:
    """Create a resource (or, with `if_none_exist`, return the one match); returns (stored, created).

    A conditional create runs only for a type the caller may create, and matches only what the
    caller may see: a hidden match behaves exactly as no match (the create then goes through
    the normal rules), so no status or message reveals it.
    """
    resource_type = ctx.validator.check_resource_type(resource, expected_type)
    require_interaction(definition_for(ctx, resource_type), "create")
    if if_none_exist:
        matches = find_by_criteria(ctx, resource_type=resource_type, criteria=if_none_exist)
        if len(matches) > 1:
            raise PreconditionFailed.simple(f"If-None-Exist matches {len(matches)} resources; it must match at most one")
        if matches:
            return store.load_current(ctx.session, resource_type=resource_type, resource_id=matches[0]), False
    definition = normalise(ctx, resource=resource, expected_type=expected_type, pending=pending)
    if definition.create_handler is not None:
        return definition.create_handler(ctx, resource=resource, resource_id=resource_id)
    apply_profile(ctx, definition=definition, resource=resource, previous=None)
    return write(ctx, definition=definition, resource=resource, resource_id=resource_id or new_id(), previous=None), True


def update(
    ctx,
    *,
    resource_type: str,
    resource_id: str,
    resource: dict,
    if_match: int | None = None,
    pending: set[str] = frozenset(),
) -> tuple[Stored, bool]:
    """Update (or, for the directory's types, create with a client id) a resource; returns (stored, created).

    A resource the caller may not see is treated as absent. Types whose creates go through a
    domain flow (messages, results, orders, items) are never created by PUT: an id that is
    hidden and an id that does not exist both get 404, so the two cannot be told apart.
    """
    definition = definition_for(ctx, resource_type)
    require_interaction(definition, "update")
    if definition.require_if_match and if_match is None and not ctx.caller.is_adapter:
        raise PreconditionRequired.simple(
            f'updating a {resource_type} needs the header If-Match: W/"<versionId>", naming the meta.versionId '
            f'(or the ETag) of the version you read, e.g. If-Match: W/"1"', expression="If-Match")
    if isinstance(resource, dict) and resource.get("id") != resource_id:
        raise MalformedRequest.simple(
            f"the resource's id must equal the id in the URL ('{resource_id}')", code="invalid", expression=f"{resource_type}.id"
        )
    previous = store.load_current(ctx.session, resource_type=resource_type, resource_id=resource_id, for_update=True)
    if previous is not None and not access.is_visible(ctx, definition, resource_id):
        previous = None
    if previous is None and not definition.update_creates:
        raise NotFound.simple(
            f"{resource_type}/{resource_id} is not known (a {resource_type} is created with POST; ids are the server's)")
    if if_match is not None and (previous is None or previous.version != if_match):
        current = f"version {previous.version}" if previous else "no resource"
        raise PreconditionFailed.simple(f"If-Match names version {if_match} but the server has {current}")
    definition = prepare(ctx, resource=resource, expected_type=resource_type, previous=previous, pending=pending)
    if previous is not None and _same_content(previous, resource):
        return previous, False  # nothing changed: no new version (idempotent loads)
    return write(ctx, definition=definition, resource=resource, resource_id=resource_id, previous=previous), previous is None


def conditional_update(ctx, *, resource_type: str, criteria: str, resource: dict) -> tuple[Stored, bool]:
    """`PUT Type?criteria`: update the one visible match, 412 on several, create on none.

    Only what the caller may see is matched and counted. With no match the resource is created
    through its type's normal create (server-assigned id).
    """
    definition = definition_for(ctx, resource_type)
    require_interaction(definition, "update")
    matches = find_by_criteria(ctx, resource_type=resource_type, criteria=criteria)
    if len(matches) > 1:
        raise PreconditionFailed.simple(f"the criteria match {len(matches)} resources; a conditional update needs one")
    if not matches:
        if isinstance(resource, dict) and "id" in resource:
            if not definition.update_creates:
                raise MalformedRequest.simple(
                    f"no {resource_type} matches the criteria; a new {resource_type} gets its id from the server: leave out id",
                    code="invalid", expression=f"{resource_type}.id")
            return update(ctx, resource_type=resource_type, resource_id=resource["id"], resource=resource)
        return create(ctx, resource=resource, expected_type=resource_type)
    if isinstance(resource, dict):
        if resource.get("id") not in (None, matches[0]):
            raise MalformedRequest.simple("the resource's id differs from the resource the criteria match", code="invalid")
        resource["id"] = matches[0]
    return update(ctx, resource_type=resource_type, resource_id=matches[0], resource=resource)


def _same_content(previous: Stored, resource: dict) -> bool:
    old = previous.as_dict()
    old.pop("meta", None)
    new = {k: v for k, v in resource.items() if k != "meta"}
    return json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True)


def read(ctx, *, resource_type: str, resource_id: str) -> Stored:
    """The current version, or 404 (also when the caller may not see it)."""
    definition = definition_for(ctx, resource_type)
    if definition.read_handler is not None:
        stored = definition.read_handler(ctx, resource_id)
        if stored is None:
            raise NotFound.simple(f"{resource_type}/{resource_id} is not known")
        return stored
    stored = store.load_current(ctx.session, resource_type=resource_type, resource_id=resource_id)
    if stored is None or not access.is_visible(ctx, definition, resource_id):
        raise NotFound.simple(f"{resource_type}/{resource_id} is not known")
    return stored


def vread(ctx, *, resource_type: str, resource_id: str, version: str) -> Stored:
    """One version, or 404."""
    read(ctx, resource_type=resource_type, resource_id=resource_id)  # visibility follows the current version
    if not version.isascii() or not version.isdigit():
        raise NotFound.simple(f"version '{version}' is not known")
    stored = store.load_version(ctx.session, resource_type=resource_type, resource_id=resource_id, version=int(version))
    if stored is None:
        raise NotFound.simple(f"{resource_type}/{resource_id}/_history/{version} is not known")
    return stored


def history(ctx, *, resource_type: str, resource_id: str, count: int) -> list[Stored]:
    """Versions of one resource, newest first (404 if none, or not visible)."""
    read(ctx, resource_type=resource_type, resource_id=resource_id)
    return store.history(ctx.session, resource_type=resource_type, resource_id=resource_id, limit=count)


def patch(ctx, *, resource_type: str, resource_id: str, operations, if_match: int | None) -> tuple[Stored, bool]:
    """Apply a JSON Patch (RFC 6902) to the current version, then update as with PUT."""
    import jsonpatch

    definition = definition_for(ctx, resource_type)
    require_interaction(definition, "patch")
    current = read(ctx, resource_type=resource_type, resource_id=resource_id)
    if not isinstance(operations, list):
        raise MalformedRequest.simple("a JSON Patch is an array of operations")
    try:
        patched = jsonpatch.JsonPatch(operations).apply(current.as_dict())
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PreconditionFailed.simple(f"a JSON Patch test failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError) as exc:
        raise UnprocessableResource.simple(f"the JSON Patch cannot be applied: {exc}", code="invalid") from None
    if not isinstance(patched, dict):
        raise UnprocessableResource.simple("the JSON Patch must leave a resource", code="invalid")
    patched.pop("meta", None)
    return update(ctx, resource_type=resource_type, resource_id=resource_id, resource=patched, if_match=if_match)


def refuse_delete(definition: ResourceDefinition) -> None:
    """Nothing is deleted (DESIGN.md); inactivate instead."""
    raise not_supported(f"{definition.name} resources are never deleted; set active to false instead",
                        definition.allowed_methods("instance"))
