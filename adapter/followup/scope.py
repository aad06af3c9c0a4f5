"""Whose inboxes a caller follows up (MC-R47): `follows_up` in mappings/roles.csv.

A verksamhetschef follows up the units of the verksamhet and everything below it, an enhetschef
the unit (the role's organisation and below, `below`), förvaltning every inbox (`all`). Nobody
else: the figures say how an operation works, which is the chefs' business.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from adapter.directory import lookups
from adapter.directory.inboxes import Inbox, inbox_from_row
from adapter.directory.models import InboxEntry
from adapter.errors import Forbidden
from adapter.mappings import table

ENTRY = InboxEntry.__table__
MAX_DEPTH = 8  # verksamhet levels below a chef's organisation (VGR has three)


@dataclass(frozen=True)
class Scope:
    """The organisations followed up (None: all of them)."""

    organizations: frozenset[str] | None


def scope_of(ctx) -> Scope:
    """What the caller follows up; 403 for a caller with no follow-up role."""
    caller = ctx.caller
    reach = {row["code"]: row["follows_up"] for row in table("roles")}
    if caller.kind in ("sandbox-operator", "adapter") or (caller.kind == "user" and "forvaltning" in caller.roles):
        return Scope(None)
    if caller.kind == "user" and caller.practitioner_id:
        roles = lookups.active_roles_of(ctx.session, practitioner_id=caller.practitioner_id)
        if any(reach.get(role.role) == "all" for role in roles):
            return Scope(None)
        tops = {role.organization_id for role in roles if reach.get(role.role) == "below" and role.organization_id}
        if tops:
            return Scope(frozenset(_with_descendants(ctx.session, tops)))
    raise Forbidden.simple("follow-up is for the verksamhetschef, the enhetschef and förvaltning (MC-R47)")


def _with_descendants(session, tops: set[str]) -> set[str]:
    """The organisations and every one below them (partOf), level by level through the reference index."""
    found, level = set(tops), set(tops)
    for _ in range(MAX_DEPTH):
        below = {child for parent in sorted(level) for child in lookups.referring_ids(
            session, resource_type="Organization", param="partof", target_type="Organization", target_id=parent)}
        level = below - found
        if not level:
            break
        found |= level
    return found


def inboxes_followed(ctx, scope: Scope, *, unit: str | None = None) -> list[Inbox]:
    """The inboxes in scope: the units' shared inboxes, and the personal inboxes of the users working there.

    Region-wide (förvaltning, no unit named) the personal inboxes are left out: tens of thousands
    of them belong to a unit's report, not the region's.
    """
    if unit is not None and scope.organizations is not None and unit not in scope.organizations:
        raise Forbidden.simple("this unit is not one the caller follows up (MC-R47)")
    organizations = {unit} if unit is not None else scope.organizations
    shared = select(ENTRY).where(ENTRY.c.kind != "personal")
    if organizations is not None:
        shared = shared.where(ENTRY.c.organization_id.in_(sorted(organizations)))
    rows = list(ctx.session.execute(shared.order_by(ENTRY.c.organization_hsa_id, ENTRY.c.reference)).all())
    if organizations is not None:
        users = lookups.practitioners_at(ctx.session, organization_ids=sorted(organizations))
        rows += ctx.session.execute(select(ENTRY).where(
            ENTRY.c.reference.in_(sorted(f"Practitioner/{u}" for u in users))).order_by(ENTRY.c.reference)).all()
    return [inbox_from_row(r) for r in rows]
