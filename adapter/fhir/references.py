"""Identifier normalisation and reference resolution on arrival (DESIGN.md, "Wire").

- every Identifier's system and value are brought to the emitted form;
- logical references by a unique identifier (HSA-id, inbox id) get their literal reference;
- literal references to types the adapter stores must name an existing resource the caller
  may see (focus, basedOn, inResponseTo, partOf, related: a hidden one is as good as missing).
"""

from __future__ import annotations

from collections import defaultdict

from adapter.errors import Issue, UnprocessableResource
from adapter.fhir import access, store
from adapter.fhir.validation import parse_reference
from adapter.identifiers import InvalidIdentifier, canonical_system, normalise

_REFERENCE_KEYS = {"reference", "identifier", "type", "display", "id", "extension"}


def _is_logical_reference(node: dict) -> bool:
    return isinstance(node.get("identifier"), dict) and set(node) <= _REFERENCE_KEYS and "reference" not in node


def _walk(node, expression: str, visit) -> None:
    if isinstance(node, dict):
        visit(node, expression)
        for key, value in node.items():
            if key == "contained":
                continue  # contained resources are validated as part of the whole, not resolved
            if isinstance(value, list):
                for i, item in enumerate(value):
                    _walk(item, f"{expression}.{key}[{i}]", visit)
            elif isinstance(value, dict):
                _walk(value, f"{expression}.{key}", visit)


def normalise_identifiers(resource: dict) -> None:
    """Rewrite every Identifier in place to its emitted form; refuse bad values (422)."""
    issues: list[Issue] = []

    def visit(node: dict, expression: str) -> None:
        identifiers = node.get("identifier")
        candidates = identifiers if isinstance(identifiers, list) else [identifiers]
        for i, ident in enumerate(candidates):
            if not isinstance(ident, dict) or "system" not in ident:
                continue
            where = f"{expression}.identifier" + (f"[{i}]" if isinstance(identifiers, list) else "")
            try:
                ident["system"], value = normalise(ident.get("system"), ident.get("value"))
            except InvalidIdentifier as exc:
                issues.append(Issue("value", str(exc), f"{where}.value"))
                continue
            if value is not None:
                ident["value"] = value

    _walk(resource, resource["resourceType"], visit)
    if issues:
        raise UnprocessableResource(*issues)


def resolve_references(ctx, resource: dict, *, pending: set[str] = frozenset()) -> None:
    """Resolve logical references and check literal ones exist (422 otherwise).

    `pending` holds references created earlier in the same transaction Bundle.
    """
    issues: list[Issue] = []
    literal: dict[str, list[tuple[str, str]]] = defaultdict(list)
    base = ctx.config.fhir_base_url

    def visit(node: dict, expression: str) -> None:
        if _is_logical_reference(node):
            _resolve_logical(ctx, node, expression, issues)
        reference = node.get("reference")
        if not isinstance(reference, str) or "resourceType" in node:
            return
        parsed = parse_reference(reference)
        if parsed is None:
            if reference.startswith("urn:uuid:") or reference.startswith("urn:oid:"):
                issues.append(Issue("not-found", f"'{reference}' does not resolve to any entry", f"{expression}.reference"))
            return
        ref_base, target_type, target_id = parsed
        if ref_base is not None and ref_base.rstrip("/") == base:
            node["reference"] = f"{target_type}/{target_id}"  # stored relative to our base
        elif ref_base is not None:
            return  # a reference to another server: not ours to check
        if ctx.registry.resource(target_type) and f"{target_type}/{target_id}" not in pending:
            literal[target_type].append((target_id, f"{expression}.reference"))

    _walk(resource, resource["resourceType"], visit)
    if literal:
        named = [f"{target_type}/{i}" for target_type, wanted in literal.items() for i, _ in wanted]
        own = ctx.registry.resource(resource["resourceType"])
        if own is not None and own.read_ahead is not None:
            own.read_ahead(ctx, resource, named)
        for prefetch in ctx.registry.reference_prefetchers:
            prefetch(ctx, named)
    for target_type, wanted in literal.items():
        ids = [i for i, _ in wanted]
        definition = ctx.registry.resource(target_type)
        if definition.visibility is not None:
            # A write may point only at what the caller already sees: a hidden target is refused
            # exactly as a missing one, so a reference can neither probe nor grant sight.
            found = access.visible_ids(ctx, definition, ids)
        elif definition.exists_many is not None:
            found = definition.exists_many(ctx, ids)
        else:
            found = store.load_many(ctx.session, resource_type=target_type, ids=ids)
        for target_id, where in wanted:
            if target_id not in found:
                issues.append(Issue("not-found", f"{target_type}/{target_id} does not exist", where))
    if issues:
        raise UnprocessableResource(*issues)


def logical_reference_types(registry, system: str, declared) -> list[str]:
    """The served types a logical reference by an identifier of `system` can name (its `type`, if given)."""
    return [name for name, definition in registry.resources.items()
            if system in definition.unique_identifier_systems and (not isinstance(declared, str) or declared == name)]


def _resolve_logical(ctx, node: dict, expression: str, issues: list[Issue]) -> None:
    identifier = node["identifier"]
    system, value = canonical_system(identifier.get("system")), identifier.get("value")
    declared = node.get("type")
    resolvable = logical_reference_types(ctx.registry, system, declared)
    if not resolvable:
        return  # e.g. a Patient by personnummer: the adapter keeps no Patients; the identifier is the reference
    for target_type in resolvable:
        owner = store.owners_of_identifier(ctx.session, resource_type=target_type, system=system, value=value)
        if owner is not None:
            node["reference"] = f"{target_type}/{owner}"
            return
    issues.append(Issue("not-found", f"no {declared or 'resource'} has identifier {system}|{value}", f"{expression}.identifier"))
