"""`mc-adapter directory load FILE.json`: a directory Bundle loaded idempotently, in streamed batches.

The file is read entry by entry (ijson), so memory follows the batch size, not the directory.
Each batch is one transaction. Every entry is an upsert keyed on its unique identifier
(HSA-id, inbox id), for a PractitionerRole on (user, unit, role), or else on its id: loading
the same file twice changes nothing.
`urn:uuid:` fullUrls are resolved to the ids they got. That map is kept in a temporary SQLite
file, not in memory, so memory stays bounded by the batch however large the directory is.
"""

from __future__ import annotations

import copy
import sqlite3
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterator
from urllib.parse import urlencode

import ijson
from sqlalchemy import select, tuple_

from adapter.auth.caller import ADAPTER
from adapter.context import Context
from adapter.db import custom_plans
from adapter.errors import AdapterError, MalformedRequest
from adapter.directory import readmodel
from adapter.fhir import service, store
from adapter.fhir.models import UniqueIdentifier
from adapter.fhir.transactions import rewrite_references
from adapter.fhir.references import logical_reference_types
from adapter.identifiers import InvalidIdentifier, canonical_system, normalise


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


class ReferenceMap:
    """fullUrl -> "Type/id", on disk (a temporary SQLite file), with a small cache of the current batch."""

    def __init__(self) -> None:
        self._handle = tempfile.NamedTemporaryFile(suffix=".sqlite3")
        self._db = sqlite3.connect(self._handle.name)
        self._db.execute("CREATE TABLE ref (url TEXT PRIMARY KEY, target TEXT NOT NULL)")
        self._recent: dict[str, str] = {}

    def __setitem__(self, url: str, target: str) -> None:
        self._recent[url] = target
        if len(self._recent) >= 1000:
            self.flush()

    def flush(self) -> None:
        """Write the recent entries to disk."""
        self._db.executemany("INSERT OR REPLACE INTO ref VALUES (?, ?)", self._recent.items())
        self._db.commit()
        self._recent.clear()

    def resolve(self, resource: dict) -> None:
        """Rewrite the references of `resource` that name a loaded fullUrl."""
        urls = set()
        _collect_references(resource, urls)
        found = self.lookup(urls)
        if found:
            rewrite_references(resource, found)

    def lookup(self, urls) -> dict[str, str]:
        """The loaded fullUrls among `urls` -> "Type/id"."""
        found = {u: self._recent[u] for u in urls if u in self._recent}
        missing = [u for u in urls if u not in found]
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            rows = self._db.execute(f"SELECT url, target FROM ref WHERE url IN ({','.join('?' * len(chunk))})", chunk)
            found.update(dict(rows.fetchall()))
        return found

    def close(self) -> None:
        self._db.close()
        self._handle.close()


def _collect_references(node, into: set) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ":" in ref:
            into.add(ref)
        for value in node.values():
            _collect_references(value, into)
    elif isinstance(node, list):
        for item in node:
            _collect_references(item, into)


def _entries(path: str) -> Iterator[dict]:
    with open(path, "rb") as handle:
        try:
            yield from ijson.items(handle, "entry.item", use_float=True)
        except ijson.JSONError as exc:
            raise MalformedRequest.simple(f"{path} is not a JSON Bundle: {exc}") from None


@dataclass
class BatchState:
    """What one batch knows without asking the database again.

    - The owners of every unique identifier the batch names are read in one query before it
      starts and seeded into the transaction (`store.seed_identifier_owners`), which keeps them
      current as the batch writes.
    - `new_practitioners`: users created in this batch; no stored role can name them yet, so a
      role of theirs is looked up in `new_roles` (its natural key -> id) instead of searched.
    """

    new_practitioners: set[str] = field(default_factory=set)
    new_roles: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _identifier_key(resource_type: str, identifier) -> tuple[str, str, str] | None:
    """(type, system, value) of an identifier as it is stored (normalised), or None if it is not one."""
    if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str) or not identifier["value"]:
        return None
    try:
        system, value = normalise(identifier.get("system"), identifier["value"])
    except InvalidIdentifier:
        return None  # the entry is refused when it is loaded
    return resource_type, system, value


def _identifier_keys(definition, resource: dict) -> list[tuple[str, str, str]]:
    """The resource's unique identifiers, as stored."""
    identifiers = resource.get("identifier") if isinstance(resource.get("identifier"), list) else []
    keys = [_identifier_key(definition.name, ident) for ident in identifiers
            if isinstance(ident, dict) and canonical_system(ident.get("system")) in definition.unique_identifier_systems]
    return [key for key in keys if key is not None]


def _logical_reference_keys(ctx: Context, node, into: set) -> None:
    """The identifiers of the logical references in `node` (e.g. a role's inboxes), for each type they can name."""
    if isinstance(node, dict):
        if "reference" not in node and isinstance(node.get("identifier"), dict):
            system = canonical_system(node["identifier"].get("system"))
            for name in logical_reference_types(ctx.registry, system, node.get("type")):
                key = _identifier_key(name, node["identifier"])
                if key is not None:
                    into.add(key)
        for value in node.values():
            _logical_reference_keys(ctx, value, into)
    elif isinstance(node, list):
        for item in node:
            _logical_reference_keys(ctx, item, into)


def _prefetch_owners(ctx: Context, entries: list[dict]) -> dict[tuple[str, str, str], str | None]:
    """Every unique identifier the batch names, as its entries' own or in their logical references,
    -> its owner now (None if none), in one query per 500."""
    keys = set()
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        definition = ctx.registry.resource(str(resource.get("resourceType"))) if isinstance(resource, dict) else None
        if definition is not None:
            keys.update(_identifier_keys(definition, resource))
            _logical_reference_keys(ctx, resource, keys)
    owners: dict[tuple[str, str, str], str | None] = dict.fromkeys(keys)
    table = UniqueIdentifier.__table__
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        rows = ctx.session.connection().execute(select(table.c.resource_type, table.c.system, table.c.value, table.c.resource_id)
                                                .where(tuple_(table.c.resource_type, table.c.system, table.c.value).in_(chunk)))
        owners.update({(t, sy, v): rid for t, sy, v, rid in rows})
    return owners


def _prefetch_targets(ctx: Context, entries: list[dict], ids: ReferenceMap, owners: dict) -> None:
    """Load what the batch refers to that earlier batches stored, in one query per type: the
    reference checks of its entries then find it in the transaction's caches."""
    urls: set[str] = set()
    for entry in entries:
        _collect_references(entry.get("resource") if isinstance(entry, dict) else None, urls)
    targets = set(ids.lookup(urls).values())
    targets.update(f"{resource_type}/{owner}" for (resource_type, _, _), owner in owners.items() if owner)
    for prefetch in ctx.registry.reference_prefetchers:
        prefetch(ctx, sorted(targets))
    by_type: dict[str, list[str]] = {}
    for reference in targets:
        resource_type, _, resource_id = reference.partition("/")
        definition = ctx.registry.resource(resource_type)
        if definition is not None and definition.exists_many is None:
            by_type.setdefault(resource_type, []).append(resource_id)
    for resource_type, resource_ids in by_type.items():
        store.load_many(ctx.session, resource_type=resource_type, ids=sorted(resource_ids))


def _role_key(resource: dict) -> tuple[str, str, str] | None:
    practitioner = (resource.get("practitioner") or {}).get("reference", "")
    organization = (resource.get("organization") or {}).get("reference", "")
    roles = [f"{c.get('system')}|{c.get('code')}" for cc in resource.get("code", []) for c in cc.get("coding", [])]
    if not (practitioner.startswith("Practitioner/") and organization.startswith("Organization/") and len(roles) == 1):
        return None
    return practitioner, organization, roles[0]


def _existing_role_id(ctx: Context, resource: dict, batch: BatchState) -> str | None:
    """A PractitionerRole's natural key: the same user, unit and role code."""
    key = _role_key(resource)
    if key is None:
        return None
    if key in batch.new_roles:
        return batch.new_roles[key]
    if key[0].removeprefix("Practitioner/") in batch.new_practitioners:
        return None  # a user created in this batch has no stored roles
    criteria = urlencode({"practitioner": key[0], "organization": key[1], "role": key[2]})
    matches = service.find_by_criteria(ctx, resource_type="PractitionerRole", criteria=criteria)
    return matches[0] if len(matches) == 1 else None


def _existing_id(ctx: Context, resource: dict, batch: BatchState) -> str | None:
    definition = ctx.registry.resource(resource["resourceType"])
    if definition.name == "PractitionerRole" and "id" not in resource:
        return _existing_role_id(ctx, resource, batch)
    for resource_type, system, value in _identifier_keys(definition, resource):
        found = store.owners_of_identifier(ctx.session, resource_type=resource_type, system=system, value=value)
        if found:
            return found
    return resource.get("id")


def _remember(resource: dict, stored, batch: BatchState, *, created: bool) -> None:
    """What this entry stored, for the rest of the batch."""
    if resource["resourceType"] == "Practitioner" and created:
        batch.new_practitioners.add(stored.id)
    elif resource["resourceType"] == "PractitionerRole":
        key = _role_key(resource)
        if key is not None:
            batch.new_roles[key] = stored.id


def _load_one(ctx: Context, entry: dict, ids: ReferenceMap, report: LoadReport, batch: BatchState) -> None:
    resource = entry.get("resource")
    if not isinstance(resource, dict) or not ctx.registry.resource(str(resource.get("resourceType"))):
        raise MalformedRequest.simple("each entry holds a directory resource")
    ids.resolve(resource)
    existing_id = _existing_id(ctx, resource, batch)
    created = False
    if existing_id is None:
        stored, _ = service.create(ctx, resource=resource)
        report.created += 1
        created = True
    else:
        resource["id"] = existing_id
        before = store.load_current(ctx.session, resource_type=resource["resourceType"], resource_id=existing_id)
        stored, _ = service.update(ctx, resource_type=resource["resourceType"], resource_id=existing_id, resource=resource)
        if before is None:
            report.created += 1
            created = True
        elif stored.version == before.version:
            report.unchanged += 1
        else:
            report.updated += 1
    _remember(resource, stored, batch, created=created)
    if entry.get("fullUrl"):
        ids[entry["fullUrl"]] = stored.reference


def _load_batch(ctx: Context, entries: list[dict], ids: ReferenceMap, report: LoadReport, *, savepoints: bool) -> None:
    """Load one batch in the session's transaction.

    Without `savepoints` (the usual case: a directory file rarely has a bad entry) the first
    failing entry raises; with them each entry is its own savepoint and a failure is reported.
    """
    # The directory's tables grow within the load: a plan cached while they were small would stay.
    custom_plans(ctx.session)
    # Users' read-model rows are refreshed once per batch, not once per Practitioner and role.
    readmodel.defer_user_refreshes(ctx.session)
    owners = _prefetch_owners(ctx, entries)
    store.seed_identifier_owners(ctx.session, owners)
    _prefetch_targets(ctx, entries, ids, owners)
    state = BatchState()
    for entry in entries:
        if not savepoints:
            _load_one(ctx, entry, ids, report, state)
            continue
        try:
            with ctx.session.begin_nested():
                _load_one(ctx, entry, ids, report, state)
        except AdapterError as exc:
            where = entry.get("fullUrl") or f"entry {report.total}"
            report.failed.append(f"{where}: {exc}")
    readmodel.refresh_deferred_users(ctx.session)


def load_directory(*, path: str, make_context: Callable[[], Context], batch_size: int = 500,
                   progress: Callable[[int], None] = lambda _count: None) -> LoadReport:
    """Load the Bundle at `path`; each batch commits on its own, a failing entry is reported and skipped."""
    report = LoadReport()
    ids = ReferenceMap()
    batch: list[dict] = []

    def flush() -> None:
        ctx = make_context()
        try:
            counts = (report.created, report.updated, report.unchanged)
            try:
                # A copy: loading rewrites entries (references, ids), and a retry starts from the file's.
                _load_batch(ctx, copy.deepcopy(batch), ids, report, savepoints=False)
            except AdapterError:
                # An entry failed: undo the batch and load it again, each entry under a savepoint
                # of its own, so that only the failing entries are reported and skipped.
                ctx.session.rollback()
                report.created, report.updated, report.unchanged = counts
                _load_batch(ctx, batch, ids, report, savepoints=True)
            ctx.session.commit()
        finally:
            ctx.session.close()
        progress(len(batch))
        batch.clear()

    try:
        for entry in _entries(path):
            batch.append(entry)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    finally:
        ids.close()
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
