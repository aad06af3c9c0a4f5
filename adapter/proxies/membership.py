"""Shared-inbox membership, administered within the operation (MC-R33) or by support (MC-R32).

Members are recorded where the directory keeps them: `PractitionerRole.healthcareService`, on
the member's role at the inbox's unit (or, for a function inbox, their role within its
operation). A member works there: an active assignment at the unit, or within the operation
for a function inbox. Who may administer is a column of `mappings/roles.csv`: the unit's chefs
and medical secretary for region and private units (or those of the verksamhet above), the
appointed inkorgsadministratör for municipal units; function inboxes likewise within their
operation, and förvaltning too.
"""

from __future__ import annotations

from sqlalchemy import select

from adapter.directory import lookups, shapes
from adapter.directory.models import InboxMember
from adapter.directory.inboxes import load_inboxes
from adapter.directory.rules import is_municipal
from adapter.errors import Forbidden, NotFound, RuleViolation, UnprocessableResource
from adapter.fhir import service, store
from adapter.mappings import table
from adapter.proxies.service import _ancestors


def _scope_needed(ctx, inbox) -> str:
    """The `administers_membership` scope of the inbox's unit: municipal units or the others."""
    unit = store.load_current(ctx.session, resource_type="Organization", resource_id=inbox.organization_id)
    return "municipal-units" if is_municipal(shapes.organization_kind(unit.as_dict())) else "units"


def _check_administrator(ctx, inbox) -> None:
    """Membership is administered within the operation (MC-R33): the unit's chefs and medical secretary
    (or those of the verksamhet above), a municipality's appointed administrator; a function inbox also
    by förvaltning (MC-R32)."""
    caller = ctx.caller
    if caller.kind == "sandbox-operator":
        return
    if caller.kind != "user":
        raise Forbidden.simple("membership is administered by users (MC-R33)")
    unit_scope = _scope_needed(ctx, inbox)
    scopes = {r["code"]: r["administers_membership"] for r in table("roles")}
    reach = set(_ancestors(ctx.session, inbox.organization_id)) if inbox.organization_id else set()
    for role in lookups.active_roles_of(ctx.session, practitioner_id=caller.practitioner_id):
        scope = scopes.get(role.role)
        if scope == "function-inboxes" and inbox.kind == "function":
            return
        if scope == unit_scope and role.organization_id in reach:
            return
    raise Forbidden.simple(f"membership of this inbox is administered within its operation by roles with '{unit_scope}' "
                           "(MC-R33), or by förvaltning for function inboxes (MC-R32)")


def _check_member_belongs(ctx, inbox, roles) -> None:
    """A unit inbox's members work at the unit; a function inbox's within its operation (MC-R33). So a
    municipality's administrator cannot make a region clinician speak for the municipality (MC-R7)."""
    inbox_operation = _ancestors(ctx.session, inbox.organization_id)[-1] if inbox.organization_id else None
    for role in roles:
        if role.organization_id == inbox.organization_id:
            return
        if inbox.kind == "function" and role.organization_id and _ancestors(ctx.session, role.organization_id)[-1] == inbox_operation:
            return
    where = "within the inbox's operation" if inbox.kind == "function" else "at the inbox's unit"
    raise RuleViolation("MC-R33", f"A member of a shared inbox has an active assignment {where}.",
                        "Medlemmar i en delad inkorg har ett aktivt uppdrag inom inkorgens enhet eller verksamhet.",
                        "practitioner")


def _inbox(ctx, inbox_id: str):
    reference = f"HealthcareService/{inbox_id}"
    inbox = load_inboxes(ctx, [reference]).get(reference)
    if inbox is None:
        raise NotFound.simple("no such shared inbox")
    return inbox


def _write_role(ctx, stored, resource) -> None:
    service.write(ctx.as_adapter(), definition=ctx.registry.resource("PractitionerRole"), resource=resource,
                  resource_id=stored.id, previous=stored)


def add_member(ctx, *, inbox_id: str, practitioner_id: str) -> None:
    """Make the user a member of the shared inbox."""
    inbox = _inbox(ctx, inbox_id)
    _check_administrator(ctx, inbox)
    if not inbox.active:
        raise RuleViolation("MC-R31", "The inbox is closed.", "Inkorgen är stängd.", "inbox")
    if store.load_current(ctx.session, resource_type="Practitioner", resource_id=practitioner_id) is None:
        raise UnprocessableResource.simple("no such user", code="not-found", expression="practitioner")
    roles = lookups.active_roles_of(ctx.session, practitioner_id=practitioner_id)
    if not roles:
        raise RuleViolation("MC-R1", "The user has no active assignment to hold the membership.",
                            "Användaren saknar aktivt medarbetaruppdrag.", "practitioner")
    _check_member_belongs(ctx, inbox, roles)
    chosen = next((r for r in roles if r.organization_id == inbox.organization_id), roles[0])
    current = chosen.stored
    resource = current.as_dict()
    members = resource.setdefault("healthcareService", [])
    if any(m.get("reference") == inbox.reference for m in members):
        return
    members.append({"reference": inbox.reference})
    _write_role(ctx, current, resource)


def remove_member(ctx, *, inbox_id: str, practitioner_id: str) -> None:
    """End the user's membership of the shared inbox (in every role)."""
    inbox = _inbox(ctx, inbox_id)
    _check_administrator(ctx, inbox)
    for info in lookups.active_roles_of(ctx.session, practitioner_id=practitioner_id):
        current = info.stored
        resource = current.as_dict()
        kept = [m for m in resource.get("healthcareService", []) if m.get("reference") != inbox.reference]
        if len(kept) != len(resource.get("healthcareService", [])):
            if kept:
                resource["healthcareService"] = kept
            else:
                del resource["healthcareService"]
            _write_role(ctx, current, resource)


def members(ctx, *, inbox_id: str) -> list[str]:
    """The inbox's members (Practitioner references)."""
    inbox = _inbox(ctx, inbox_id)
    _check_administrator(ctx, inbox)
    table_ = InboxMember.__table__
    rows = ctx.session.connection().execute(select(table_.c.practitioner_id).where(table_.c.inbox == inbox.reference))
    return sorted(f"Practitioner/{r}" for r in rows.scalars())
