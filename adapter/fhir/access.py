"""Visibility inside the query: the one place the FHIR base asks a type's `visibility` hook.

Reads, searches, conditional requests, `_include` and the references of a write all go
through these, so a resource the caller may not see is never loaded, counted or named.
"""

from __future__ import annotations

from sqlalchemy import select

from adapter.fhir.models import ResourceRow
from adapter.fhir.registry import ResourceDefinition


def condition(ctx, definition: ResourceDefinition | None, id_column=None):
    """The SQL condition on `id_column` (default: the resource row's id) for what the caller sees; None: all."""
    if definition is None or definition.visibility is None:
        return None
    return definition.visibility(ctx, ResourceRow.id if id_column is None else id_column)


def visible_ids(ctx, definition: ResourceDefinition, ids) -> set[str]:
    """The ids among `ids` that exist and that the caller may see (one query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    query = select(ResourceRow.id).where(ResourceRow.resource_type == definition.name, ResourceRow.id.in_(wanted))
    visible = condition(ctx, definition)
    if visible is not None:
        query = query.where(visible)
    return set(ctx.session.connection().execute(query).scalars())


def is_visible(ctx, definition: ResourceDefinition, resource_id: str) -> bool:
    """Whether the caller may see this stored resource (DESIGN.md: otherwise 404)."""
    return definition.visibility is None or resource_id in visible_ids(ctx, definition, [resource_id])
