"""Granting, listing and revoking proxies; and the grants active for a proxy now (visibility)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from adapter.db import as_utc
from adapter.directory import lookups, shapes
from adapter.errors import Forbidden, NotFound, UnprocessableResource
from adapter.fhir import store
from adapter.proxies import rules
from adapter.proxies.models import ProxyGrant

TABLE = ProxyGrant.__table__


@dataclass(frozen=True)
class Grant:
    """A grant as the admin API shows it."""

    id: str
    principal: str
    proxy: str
    start: datetime
    end: datetime
    granted_by: str
    decided_by: str
    revoked: bool
    active: bool
    principal_has_single_proxy: bool = False


def _practitioner(ctx, practitioner_id: str, field: str) -> str:
    if store.load_current(ctx.session, resource_type="Practitioner", resource_id=practitioner_id) is None:
        raise UnprocessableResource.simple(f"Practitioner/{practitioner_id} does not exist", code="not-found", expression=field)
    return practitioner_id


def _ancestors(session, organization_id: str) -> list[str]:
    """The unit and the verksamheter above it (partOf), nearest first."""
    return lookups.ancestors(session, organization_id)


def _units(session, practitioner_id: str) -> set[str]:
    return {r.organization_id for r in lookups.active_roles_of(session, practitioner_id=practitioner_id) if r.organization_id}


def administers(session, *, administrator_id: str, principal_id: str, predicate) -> bool:
    """True when the administrator holds a role (matching `predicate`) at one of the principal's units or above it."""
    reach = {org for unit in _units(session, principal_id) for org in _ancestors(session, unit)}
    return any(predicate(r.role) and r.organization_id in reach
               for r in lookups.active_roles_of(session, practitioner_id=administrator_id))


def operations(session, practitioner_id: str) -> set[str]:
    """The operations (top verksamhet, or the unit itself) the user works in."""
    return {_ancestors(session, unit)[-1] for unit in _units(session, practitioner_id)}


def operations_of(session, practitioner_id: str) -> int:
    """How many operations the user works in (MC-R41)."""
    return len(operations(session, practitioner_id))


def grant(ctx, *, principal_id: str, proxy_id: str, start: datetime, end: datetime, decided_by: str,
          acknowledge_multiple_operations: bool) -> Grant:
    """Grant `proxy_id` the principal's personal inbox for [start, end) (MC-R39 to MC-R44).

    Nothing limits how many proxies a user has, or for how many users a proxy acts (MC-R43).
    """
    caller = ctx.caller
    if caller.kind != "user" or not caller.practitioner_id:
        raise Forbidden.simple("proxy rights are granted by a user of the principal's unit (MC-R40)")
    _practitioner(ctx, principal_id, "principal")
    _practitioner(ctx, proxy_id, "proxy")
    _practitioner(ctx, decided_by, "decided_by")
    rules.check_grant(
        grantor_id=caller.practitioner_id, principal_id=principal_id, proxy_id=proxy_id,
        grantor_administers=administers(ctx.session, administrator_id=caller.practitioner_id, principal_id=principal_id,
                                        predicate=rules.grants_proxies),
        decider_decides=administers(ctx.session, administrator_id=decided_by, principal_id=principal_id,
                                    predicate=rules.decides_proxy_period),
        start=start, end=end, principal_operations=operations_of(ctx.session, principal_id),
        acknowledged=acknowledge_multiple_operations,
        same_operation=bool(operations(ctx.session, principal_id) & operations(ctx.session, proxy_id)),
    )
    row = {"id": str(uuid.uuid4()), "principal_id": principal_id, "proxy_id": proxy_id, "start": start, "end": end,
           "granted_by": caller.practitioner_id, "decided_by": decided_by,
           "acknowledged_operations": acknowledge_multiple_operations, "created_at": ctx.clock(), "revoked_at": None}
    ctx.session.connection().execute(TABLE.insert().values(**row))
    return _grant(row, now=ctx.clock())


def _grant(row, *, now: datetime, single: bool = False) -> Grant:
    get = row.get if isinstance(row, dict) else row._mapping.get
    start, end, revoked = as_utc(get("start")), as_utc(get("end")), get("revoked_at")
    return Grant(get("id"), f"Practitioner/{get('principal_id')}", f"Practitioner/{get('proxy_id')}", start, end,
                 f"Practitioner/{get('granted_by')}", f"Practitioner/{get('decided_by')}", revoked is not None,
                 revoked is None and start <= now < end, single)


def list_for_unit(ctx, *, unit_id: str) -> list[Grant]:
    """Every grant whose principal works at the unit, for its administrators (MC-R40); a warning when a
    principal has a single proxy (MC-R44)."""
    caller = ctx.caller
    if caller.kind != "user" or not any(
        rules.grants_proxies(r.role) and unit_id in _reach_down(ctx.session, r.organization_id)
        for r in lookups.active_roles_of(ctx.session, practitioner_id=caller.practitioner_id)
    ):
        raise Forbidden.simple("only the unit's administrators list its proxies (MC-R40)")
    role_ids = lookups.referring_ids(ctx.session, resource_type="PractitionerRole", param="organization",
                                     target_type="Organization", target_id=unit_id)
    people = {shapes.reference_id(s.as_dict().get("practitioner"), "Practitioner")
              for s in store.load_many(ctx.session, resource_type="PractitionerRole", ids=role_ids).values()}
    rows = ctx.session.connection().execute(
        select(TABLE).where(TABLE.c.principal_id.in_(sorted(p for p in people if p))).order_by(TABLE.c.principal_id, TABLE.c.start)
    ).all()
    now = ctx.clock()
    grants = [_grant(r, now=now) for r in rows]
    live = {}
    for g in grants:
        if not g.revoked and g.end > now:
            live.setdefault(g.principal, set()).add(g.proxy)
    return [Grant(**{**g.__dict__, "principal_has_single_proxy": len(live.get(g.principal, ())) == 1}) for g in grants]


def _reach_down(session, organization_id: str | None) -> set[str]:
    """The organisation and the units below it (children by partOf)."""
    if organization_id is None:
        return set()
    found, frontier = {organization_id}, [organization_id]
    while frontier:
        children = lookups.referring_ids(session, resource_type="Organization", param="partof",
                                         target_type="Organization", target_id=frontier.pop())
        for child in children:
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def revoke(ctx, *, grant_id: str) -> None:
    """Revoke a grant at once; its administrators only."""
    row = ctx.session.connection().execute(select(TABLE).where(TABLE.c.id == grant_id)).first()
    if row is None:
        raise NotFound.simple("no such proxy grant")
    if ctx.caller.kind != "user" or not administers(ctx.session, administrator_id=ctx.caller.practitioner_id,
                                                    principal_id=row.principal_id, predicate=rules.grants_proxies):
        raise Forbidden.simple("only the principal's unit administrators revoke proxy rights (MC-R40)")
    ctx.session.connection().execute(TABLE.update().where(TABLE.c.id == grant_id).values(revoked_at=ctx.clock()))


def is_active_proxy(ctx, *, proxy_id: str, principal_id: str) -> bool:
    """True while a grant from the principal to this proxy is in its period and not revoked (checked at
    every access, never by a job). One step only: grants are never followed further (MC-R44)."""
    now = ctx.clock()
    row = ctx.session.connection().execute(
        select(TABLE.c.id).where(TABLE.c.proxy_id == proxy_id, TABLE.c.principal_id == principal_id,
                                 TABLE.c.revoked_at.is_(None), TABLE.c.start <= now, TABLE.c.end > now).limit(1)
    ).first()
    return row is not None


def active_principals(ctx, *, proxy_id: str) -> list[str]:
    """The users whose personal inboxes this proxy holds an active grant for now (one step, MC-R44)."""
    now = ctx.clock()
    rows = ctx.session.connection().execute(
        select(TABLE.c.principal_id).where(TABLE.c.proxy_id == proxy_id, TABLE.c.revoked_at.is_(None),
                                           TABLE.c.start <= now, TABLE.c.end > now)
    )
    return sorted(set(rows.scalars()))
