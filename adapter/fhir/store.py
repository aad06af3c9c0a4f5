"""Persistence of resource versions with their search indexes. Never commits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, select, tuple_
from sqlalchemy.orm import Session

from adapter.db import as_utc
from adapter.errors import Conflict, Issue, PreconditionFailed, UnprocessableResource
from adapter.fhir.indexing import index_rows
from adapter.fhir.models import DateIndex, ReferenceIndex, ResourceRow, ResourceVersion, TokenIndex, UniqueIdentifier
from adapter.fhir.registry import ResourceDefinition
from adapter.identifiers import canonical_system
from adapter.writes import JSONText, insert_later


@dataclass(frozen=True)
class Stored:
    """A stored version: what reads return, with its JSON text as stored."""

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    content: str

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"

    def as_dict(self) -> dict:
        """The resource parsed (for domain logic; responses use `content` directly)."""
        return json.loads(self.content)

    @classmethod
    def of(cls, row) -> "Stored":
        """Build from a ResourceRow or ResourceVersion."""
        return cls(row.resource_type, row.id, row.version, as_utc(row.last_updated), row.content)


def instant(value: datetime) -> str:
    """FHIR instant text with milliseconds and zone."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _meta(resource: dict, definition, *, version: int, now: datetime) -> dict:
    """The stored version's meta: its number and time, and our profile of the type (`meta.profile`)."""
    meta = dict(resource.get("meta") or {})
    meta.update(versionId=str(version), lastUpdated=instant(now))
    if definition.profile_url:
        meta["profile"] = list(dict.fromkeys([*(meta.get("profile") or []), definition.profile_url]))
    return meta


RESOURCE = ResourceRow.__table__
VERSION = ResourceVersion.__table__
_COLUMNS = (RESOURCE.c.resource_type, RESOURCE.c.id, RESOURCE.c.version, RESOURCE.c.last_updated, RESOURCE.c.content)
_CACHE = "mc_resources"


def _cache(session: Session) -> dict:
    """Resources read or written in this transaction (cleared on rollback: see `install_cache_reset`)."""
    return session.info.setdefault(_CACHE, {})


def install_cache_reset(sessions) -> None:
    """Forget cached resources whenever a transaction or savepoint rolls back."""
    @event.listens_for(sessions, "after_soft_rollback")
    def _forget(session, _previous_transaction):
        for key in [k for k in session.info if k.startswith("mc_")]:
            session.info.pop(key)


def forget(session: Session, *, resource_type: str, ids: list[str]) -> None:
    """Drop resources from the transaction's cache (after they were deleted)."""
    cache = _cache(session)
    for resource_id in ids:
        cache.pop((resource_type, resource_id), None)


def load_current(session: Session, *, resource_type: str, resource_id: str, for_update: bool = False) -> Stored | None:
    """The current version of a resource, optionally locked until the transaction ends.

    Reads within one transaction are cached: routing a message looks at the same inboxes
    several times. A locking read always goes to the database.
    """
    cache = _cache(session)
    key = (resource_type, resource_id)
    if not for_update and key in cache:
        return cache[key]
    query = select(*_COLUMNS).where(RESOURCE.c.resource_type == resource_type, RESOURCE.c.id == resource_id)
    if for_update:
        query = query.with_for_update()
    row = session.connection().execute(query).first()
    if row is None:
        return None
    cache[key] = Stored.of(row)
    return cache[key]


def load_many(session: Session, *, resource_type: str, ids: list[str]) -> dict[str, Stored]:
    """Current versions of several resources of one type, by id."""
    cache = _cache(session)
    found = {i: cache[(resource_type, i)] for i in ids if (resource_type, i) in cache}
    missing = sorted({i for i in ids if i not in found})
    if missing:
        rows = session.connection().execute(
            select(*_COLUMNS).where(RESOURCE.c.resource_type == resource_type, RESOURCE.c.id.in_(missing))
        )
        for row in rows:
            found[row.id] = cache[(resource_type, row.id)] = Stored.of(row)
    return found


# Unique identifier -> owner id (None: no owner) known in this transaction: seeded by a bulk load
# for its whole batch in one query, kept current by `_claim_unique_identifiers`, dropped on rollback.
_OWNERS = "mc_identifier_owners"


def seed_identifier_owners(session: Session, owners: dict[tuple[str, str, str], str | None]) -> None:
    """Tell this transaction who owns (or that no one owns) these (type, system, value) identifiers."""
    session.info.setdefault(_OWNERS, {}).update(owners)


def owners_of_identifier(session: Session, *, resource_type: str, system: str, value: str) -> str | None:
    """The id of the resource a unique identifier names, if any."""
    key = (resource_type, canonical_system(system), value)
    known = session.info.get(_OWNERS)
    if known is not None and key in known:
        return known[key]
    table = UniqueIdentifier.__table__
    return session.connection().execute(
        select(table.c.resource_id).where(
            table.c.resource_type == key[0],
            table.c.system == key[1],
            table.c.value == key[2],
        )
    ).scalar_one_or_none()


def persist(
    session: Session,
    *,
    definition: ResourceDefinition,
    resource: dict,
    resource_id: str,
    previous: Stored | None,
    now: datetime,
    base_url: str,
) -> Stored:
    """Store `resource` as the next version of `resource_id`, with history and indexes."""
    version = previous.version + 1 if previous else 1
    meta = _meta(resource, definition, version=version, now=now)
    resource["id"] = resource_id
    resource["meta"] = meta
    content = _content(resource)
    owner = {"resource_type": definition.name, "id": resource_id}
    connection = session.connection()
    if previous is None:
        insert_later(connection, RESOURCE, [{**owner, "version": version, "last_updated": now, "content": content}])
    else:
        result = connection.execute(
            RESOURCE.update()
            .where(
                RESOURCE.c.resource_type == definition.name,
                RESOURCE.c.id == resource_id,
                RESOURCE.c.version == previous.version,
            )
            .values(version=version, last_updated=now, content=content)
        )
        if result.rowcount != 1:
            raise PreconditionFailed.simple(
                f"{definition.name}/{resource_id} was changed by someone else meanwhile; read it again"
            )
    if previous is not None:
        # `resource` holds the current version; history keeps the versions it superseded.
        insert_later(connection, VERSION, [{
            **owner, "version": previous.version, "last_updated": previous.last_updated,
            "method": "POST" if previous.version == 1 else "PUT", "content": previous.content,
        }])
    if definition.generic_index:
        _reindex(session, definition=definition, resource=resource, base_url=base_url, replace=previous is not None)
    _claim_unique_identifiers(session, definition=definition, resource=resource, replace=previous is not None)
    stored = Stored(definition.name, resource_id, version, now, content)
    _cache(session)[(definition.name, resource_id)] = stored
    return stored


def _content(resource: dict) -> JSONText:
    """A resource as stored and served: compact JSON, JSON text already for the deferred write."""
    return JSONText(json.dumps(resource, separators=(",", ":"), ensure_ascii=False))


def persist_new_many(session: Session, *, definition: ResourceDefinition, resources: list[dict], now: datetime,
                     base_url: str) -> list[Stored]:
    """Store several new resources with one statement per table (e.g. the items of one message).

    Each resource must carry its new `id`.
    """
    rows = []
    stored_list = []
    for resource in resources:
        resource["meta"] = _meta(resource, definition, version=1, now=now)
        content = _content(resource)
        rows.append({"resource_type": definition.name, "id": resource["id"], "version": 1, "last_updated": now, "content": content})
        stored_list.append(Stored(definition.name, resource["id"], 1, now, content))
    connection = session.connection()
    insert_later(connection, RESOURCE, rows)
    for resource in resources:
        if definition.generic_index:
            _reindex(session, definition=definition, resource=resource, base_url=base_url, replace=False)
        _claim_unique_identifiers(session, definition=definition, resource=resource, replace=False)
    cache = _cache(session)
    for stored in stored_list:
        cache[(definition.name, stored.id)] = stored
    return stored_list


def _reindex(session: Session, *, definition: ResourceDefinition, resource: dict, base_url: str, replace: bool) -> None:
    connection = session.connection()
    tables = (TokenIndex.__table__, ReferenceIndex.__table__, DateIndex.__table__)
    if replace:
        for table in tables:
            connection.execute(
                table.delete().where(table.c.resource_type == definition.name, table.c.resource_id == resource["id"])
            )
    for table, rows in zip(tables, index_rows(definition, resource, base_url=base_url)):
        insert_later(connection, table, rows)


def unique_identifiers(definition: ResourceDefinition, resource: dict) -> list[tuple[str, str]]:
    """The (system, value) pairs of `resource` that must name it alone."""
    return [
        (ident["system"], ident["value"])
        for ident in resource.get("identifier", [])
        if ident.get("system") in definition.unique_identifier_systems and ident.get("value")
    ]


def _claim_unique_identifiers(session: Session, *, definition: ResourceDefinition, resource: dict, replace: bool) -> None:
    wanted = unique_identifiers(definition, resource)
    if not definition.unique_identifier_systems:
        return
    if replace:
        table = UniqueIdentifier.__table__
        session.connection().execute(
            table.delete().where(table.c.resource_type == definition.name, table.c.resource_id == resource["id"])
        )
    for system, value in wanted:
        if len(system) > 255 or len(value) > 255:
            raise UnprocessableResource(Issue("too-long", "an identifier that names one resource has a system and value of "
                                              "at most 255 characters each", f"{definition.name}.identifier"))
        holder = owners_of_identifier(session, resource_type=definition.name, system=system, value=value)
        if holder is not None and holder != resource["id"]:
            raise Conflict.simple(
                f"identifier {system}|{value} already names {definition.name}/{holder}", expression=f"{definition.name}.identifier"
            )
    known = session.info.get(_OWNERS)
    if known is not None:
        if replace:
            for key in [k for k, owner in known.items() if k[0] == definition.name and owner == resource["id"]]:
                known[key] = None
        known.update({(definition.name, s, v): resource["id"] for s, v in wanted})
    if wanted:
        # The primary key guarantees uniqueness under concurrent writers; the check above
        # only makes the usual case's message clear.
        insert_later(
            session.connection(), UniqueIdentifier.__table__,
            [
                {"resource_type": definition.name, "system": s, "value": v, "resource_id": resource["id"]}
                for s, v in wanted
            ],
        )


def history(session: Session, *, resource_type: str, resource_id: str, limit: int) -> list[Stored]:
    """Versions of one resource, newest first: the current one, then those it superseded."""
    current = load_current(session, resource_type=resource_type, resource_id=resource_id)
    if current is None:
        return []
    rows = session.connection().execute(
        select(VERSION.c.resource_type, VERSION.c.id, VERSION.c.version, VERSION.c.last_updated, VERSION.c.content)
        .where(VERSION.c.resource_type == resource_type, VERSION.c.id == resource_id)
        .order_by(VERSION.c.version.desc())
        .limit(max(limit - 1, 0))
    )
    return [current, *(Stored.of(row) for row in rows)][:limit]


def load_versions(session: Session, *, resource_type: str, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Stored]:
    """Given versions of resources of one type, by (id, version), in at most two queries."""
    current = load_many(session, resource_type=resource_type, ids=sorted({i for i, _ in keys}))
    found = {(i, v): current[i] for i, v in keys if i in current and current[i].version == v}
    older = sorted({k for k in keys if k not in found})
    if older:
        rows = session.connection().execute(
            select(VERSION.c.resource_type, VERSION.c.id, VERSION.c.version, VERSION.c.last_updated, VERSION.c.content)
            .where(VERSION.c.resource_type == resource_type, tuple_(VERSION.c.id, VERSION.c.version).in_(older)))
        found.update({(row.id, row.version): Stored.of(row) for row in rows})
    return found


def load_version(session: Session, *, resource_type: str, resource_id: str, version: int) -> Stored | None:
    """One version of a resource (the current one lives in `resource`)."""
    current = load_current(session, resource_type=resource_type, resource_id=resource_id)
    if current is not None and current.version == version:
        return current
    row = session.connection().execute(
        select(VERSION.c.resource_type, VERSION.c.id, VERSION.c.version, VERSION.c.last_updated, VERSION.c.content)
        .where(VERSION.c.resource_type == resource_type, VERSION.c.id == resource_id, VERSION.c.version == version)
    ).first()
    return Stored.of(row) if row else None
