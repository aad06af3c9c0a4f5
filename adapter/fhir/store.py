"""Persistence of resource versions with their search indexes. Never commits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from adapter.db import as_utc
from adapter.errors import Conflict, PreconditionFailed
from adapter.fhir.indexing import index_rows
from adapter.fhir.models import DateIndex, ReferenceIndex, ResourceRow, ResourceVersion, TokenIndex, UniqueIdentifier
from adapter.fhir.registry import ResourceDefinition
from adapter.identifiers import canonical_system


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


def load_current(session: Session, *, resource_type: str, resource_id: str, for_update: bool = False) -> Stored | None:
    """The current version of a resource, optionally locked until the transaction ends."""
    query = select(ResourceRow).where(ResourceRow.resource_type == resource_type, ResourceRow.id == resource_id)
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    return Stored.of(row) if row else None


def load_many(session: Session, *, resource_type: str, ids: list[str]) -> dict[str, Stored]:
    """Current versions of several resources of one type, by id."""
    if not ids:
        return {}
    rows = session.execute(
        select(ResourceRow).where(ResourceRow.resource_type == resource_type, ResourceRow.id.in_(ids))
    ).scalars()
    return {row.id: Stored.of(row) for row in rows}


def owners_of_identifier(session: Session, *, resource_type: str, system: str, value: str) -> str | None:
    """The id of the resource a unique identifier names, if any."""
    return session.execute(
        select(UniqueIdentifier.resource_id).where(
            UniqueIdentifier.resource_type == resource_type,
            UniqueIdentifier.system == canonical_system(system),
            UniqueIdentifier.value == value,
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
    meta = dict(resource.get("meta") or {})
    meta.update(versionId=str(version), lastUpdated=instant(now))
    resource["id"] = resource_id
    resource["meta"] = meta
    content = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
    owner = {"resource_type": definition.name, "id": resource_id}
    if previous is None:
        session.execute(insert(ResourceRow).values(**owner, version=version, last_updated=now, content=content))
    else:
        result = session.execute(
            update(ResourceRow)
            .where(
                ResourceRow.resource_type == definition.name,
                ResourceRow.id == resource_id,
                ResourceRow.version == previous.version,
            )
            .values(version=version, last_updated=now, content=content)
        )
        if result.rowcount != 1:
            raise PreconditionFailed.simple(
                f"{definition.name}/{resource_id} was changed by someone else meanwhile; read it again"
            )
    session.execute(
        insert(ResourceVersion).values(
            **owner, version=version, last_updated=now, method="POST" if previous is None else "PUT", content=content
        )
    )
    if definition.generic_index:
        _reindex(session, definition=definition, resource=resource, base_url=base_url, replace=previous is not None)
    _claim_unique_identifiers(session, definition=definition, resource=resource, replace=previous is not None)
    return Stored(definition.name, resource_id, version, now, content)


def _reindex(session: Session, *, definition: ResourceDefinition, resource: dict, base_url: str, replace: bool) -> None:
    owner_filter = (TokenIndex.resource_type == definition.name, TokenIndex.resource_id == resource["id"])
    if replace:
        session.execute(delete(TokenIndex).where(*owner_filter))
        session.execute(
            delete(ReferenceIndex).where(
                ReferenceIndex.resource_type == definition.name, ReferenceIndex.resource_id == resource["id"]
            )
        )
        session.execute(
            delete(DateIndex).where(DateIndex.resource_type == definition.name, DateIndex.resource_id == resource["id"])
        )
    tokens, references, periods = index_rows(definition, resource, base_url=base_url)
    if tokens:
        session.execute(insert(TokenIndex), tokens)
    if references:
        session.execute(insert(ReferenceIndex), references)
    if periods:
        session.execute(insert(DateIndex), periods)


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
        session.execute(
            delete(UniqueIdentifier).where(
                UniqueIdentifier.resource_type == definition.name, UniqueIdentifier.resource_id == resource["id"]
            )
        )
    for system, value in wanted:
        holder = owners_of_identifier(session, resource_type=definition.name, system=system, value=value)
        if holder is not None and holder != resource["id"]:
            raise Conflict.simple(
                f"identifier {system}|{value} already names {definition.name}/{holder}", expression=f"{definition.name}.identifier"
            )
    if wanted:
        # The primary key guarantees uniqueness under concurrent writers; the check above
        # only makes the usual case's message clear.
        session.execute(
            insert(UniqueIdentifier),
            [
                {"resource_type": definition.name, "system": s, "value": v, "resource_id": resource["id"]}
                for s, v in wanted
            ],
        )


def history(session: Session, *, resource_type: str, resource_id: str, limit: int) -> list[Stored]:
    """Versions of one resource, newest first."""
    rows = session.execute(
        select(ResourceVersion)
        .where(ResourceVersion.resource_type == resource_type, ResourceVersion.id == resource_id)
        .order_by(ResourceVersion.version.desc())
        .limit(limit)
    ).scalars()
    return [Stored.of(row) for row in rows]


def load_version(session: Session, *, resource_type: str, resource_id: str, version: int) -> Stored | None:
    """One version of a resource."""
    row = session.get(ResourceVersion, (resource_type, resource_id, version))
    return Stored.of(row) if row else None
