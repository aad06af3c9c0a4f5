"""`mc-adapter directory load FILE.json`: a directory Bundle loaded idempotently, in streamed batches.

The file is read entry by entry (ijson), so memory follows the batch size, not the directory.
Each batch is one transaction. Every entry is an upsert keyed on its unique identifier
(HSA-id, inbox id), for a PractitionerRole on (user, unit, role), or else on its id: loading
the same file twice changes nothing.
`urn:uuid:` fullUrls are resolved to the ids they got (a map of one short string per entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator
from urllib.parse import urlencode

import ijson

from adapter.auth.caller import ADAPTER
from adapter.context import Context
from adapter.errors import AdapterError, MalformedRequest
from adapter.fhir import service, store
from adapter.fhir.transactions import rewrite_references
from adapter.identifiers import canonical_system


@dataclass
class LoadReport:
    """What a load did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.failed)


def _entries(path: str) -> Iterator[dict]:
    with open(path, "rb") as handle:
        try:
            yield from ijson.items(handle, "entry.item", use_float=True)
        except ijson.JSONError as exc:
            raise MalformedRequest.simple(f"{path} is not a JSON Bundle: {exc}") from None


def _existing_role_id(ctx: Context, resource: dict) -> str | None:
    """A PractitionerRole's natural key: the same user, unit and role code."""
    practitioner = (resource.get("practitioner") or {}).get("reference", "")
    organization = (resource.get("organization") or {}).get("reference", "")
    roles = [f"{c.get('system')}|{c.get('code')}" for cc in resource.get("code", []) for c in cc.get("coding", [])]
    if not (practitioner.startswith("Practitioner/") and organization.startswith("Organization/") and len(roles) == 1):
        return None
    criteria = urlencode({"practitioner": practitioner, "organization": organization, "role": roles[0]})
    matches = service.find_by_criteria(ctx, resource_type="PractitionerRole", criteria=criteria)
    return matches[0] if len(matches) == 1 else None


def _existing_id(ctx: Context, resource: dict) -> str | None:
    definition = ctx.registry.resource(resource["resourceType"])
    if definition.name == "PractitionerRole" and "id" not in resource:
        return _existing_role_id(ctx, resource)
    for ident in resource.get("identifier", []):
        system = canonical_system(ident.get("system"))
        if system in definition.unique_identifier_systems and ident.get("value"):
            value = ident["value"].strip().upper() if system.endswith("29.4.19") else ident["value"]
            found = store.owners_of_identifier(ctx.session, resource_type=definition.name, system=system, value=value)
            if found:
                return found
    return resource.get("id")


def _load_one(ctx: Context, entry: dict, ids: dict[str, str], report: LoadReport) -> None:
    resource = entry.get("resource")
    if not isinstance(resource, dict) or not ctx.registry.resource(str(resource.get("resourceType"))):
        raise MalformedRequest.simple("each entry holds a directory resource")
    rewrite_references(resource, ids)
    existing_id = _existing_id(ctx, resource)
    if existing_id is None:
        stored, _ = service.create(ctx, resource=resource)
        report.created += 1
    else:
        resource["id"] = existing_id
        before = store.load_current(ctx.session, resource_type=resource["resourceType"], resource_id=existing_id)
        stored, _ = service.update(ctx, resource_type=resource["resourceType"], resource_id=existing_id, resource=resource)
        if before is None:
            report.created += 1
        elif stored.version == before.version:
            report.unchanged += 1
        else:
            report.updated += 1
    if entry.get("fullUrl"):
        ids[entry["fullUrl"]] = stored.reference


def load_directory(*, path: str, make_context: Callable[[], Context], batch_size: int = 500,
                   progress: Callable[[int], None] = lambda n: None) -> LoadReport:
    """Load the Bundle at `path`; each batch commits on its own, a failing entry is reported and skipped."""
    report = LoadReport()
    ids: dict[str, str] = {}
    batch: list[dict] = []

    def flush() -> None:
        ctx = make_context()
        try:
            for position, entry in enumerate(batch):
                try:
                    with ctx.session.begin_nested():
                        _load_one(ctx, entry, ids, report)
                except AdapterError as exc:
                    where = entry.get("fullUrl") or f"entry {report.total}"
                    report.failed.append(f"{where}: {exc}")
            ctx.session.commit()
        finally:
            ctx.session.close()
        progress(len(batch))
        batch.clear()

    for entry in _entries(path):
        batch.append(entry)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report


def adapter_context(app_state) -> Context:
    """A Context acting as the adapter itself, on a fresh session (CLI commands)."""
    return Context(
        session=app_state.sessions(),
        config=app_state.config,
        registry=app_state.registry,
        validator=app_state.validator,
        caller=ADAPTER,
        clock=app_state.clock,
    )
