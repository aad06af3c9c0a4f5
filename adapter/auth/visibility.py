"""Who sees which inbox, and so which items, messages, results, orders and documents (DESIGN.md, "Security").

The rules are the table `mappings/access_rules.csv` (caller kind x inbox kind x relation). A
caller's visible inboxes are worked out once per transaction from the rows it may see by:
a system client sees its organisation's shared inboxes; a user sees their own personal inbox,
the shared inboxes they are a member of, and the personal inboxes they are an active proxy for
(one step: never an inbox their principal is proxy for, MC-R44); the sandbox operator and the
adapter see everything.

What a caller sees of each resource type is a SQL condition built from those inboxes
(`ResourceDefinition.visibility`), so reads, searches, conditional requests and `_include`
filter in the query itself: a hidden resource is never counted, paged over or named (404, or
simply absent). Sight of a result, order or document comes only from the item kinds that
legitimately carry it (`mappings/item_sight.csv`), never from a Task the caller made.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import and_, exists, false, literal, or_, select, true

from adapter.directory.inboxes import is_member, load_inboxes
from adapter.directory.models import InboxEntry, InboxMember
from adapter.fhir.models import ReferenceIndex, ResourceOrigin
from adapter.inbox.models import InboxItem
from adapter.mappings import table
from adapter.proxies.service import active_principals, is_active_proxy

_CACHE = "mc_visible_inboxes"


def sees_everything(ctx) -> bool:
    """The adapter itself, and the sandbox operator (sandbox mode only)."""
    return ctx.caller.kind in ("adapter", "sandbox-operator")


def relation(ctx, inbox) -> str:
    """How the caller stands to an inbox: the `relation` column of mappings/access_rules.csv."""
    caller = ctx.caller
    if caller.kind == "client":
        if not inbox.is_personal and inbox.organization_hsa_id == caller.organization_hsa_id:
            return "own-organisation"
        return "other"
    if caller.kind == "user" and caller.practitioner_id:
        if inbox.is_personal:
            if inbox.id == caller.practitioner_id:
                return "own"
            if is_active_proxy(ctx, proxy_id=caller.practitioner_id, principal_id=inbox.id):
                return "active-proxy"
            return "other"
        return "member" if is_member(ctx, practitioner_id=caller.practitioner_id, inbox=inbox) else "other"
    return "other"


@cache
def _rules() -> dict[tuple[str, str, str], dict]:
    return {(r["caller"], r["inbox"], r["relation"]): r for r in table("access_rules")}


def _own(ctx) -> set[str]:
    return {f"Practitioner/{ctx.caller.practitioner_id}"}


def _proxied(ctx) -> set[str]:
    return {f"Practitioner/{p}" for p in active_principals(ctx, proxy_id=ctx.caller.practitioner_id)}


def _memberships(ctx) -> set[str]:
    rows = ctx.session.connection().execute(
        select(InboxMember.inbox).where(InboxMember.practitioner_id == ctx.caller.practitioner_id))
    return set(rows.scalars())


def _organisation_inboxes(ctx) -> set[str]:
    rows = ctx.session.connection().execute(select(InboxEntry.reference).where(
        InboxEntry.organization_hsa_id == ctx.caller.organization_hsa_id, InboxEntry.kind != "personal"))
    return set(rows.scalars())


# Which inboxes stand in each relation of the table to the caller (the relations a row may grant sight by).
INBOXES_IN_RELATION = {
    ("user", "personal", "own"): _own,
    ("user", "personal", "active-proxy"): _proxied,
    ("user", "shared", "member"): _memberships,
    ("client", "shared", "own-organisation"): _organisation_inboxes,
}


def visible_inboxes(ctx) -> frozenset[str] | None:
    """References of every inbox the caller sees (None: all of them), once per transaction."""
    if sees_everything(ctx):
        return None
    cache = ctx.session.info.setdefault(_CACHE, {})
    if ctx.caller not in cache:
        found: set[str] = set()
        if ctx.caller.kind == "client" or ctx.caller.practitioner_id:
            for key, rule in _rules().items():
                if key[0] == ctx.caller.kind and rule["sees"] == "true":
                    found |= INBOXES_IN_RELATION[key](ctx)
        cache[ctx.caller] = frozenset(found)
    return cache[ctx.caller]


def forget_visible_inboxes(session) -> None:
    """Drop the cached inbox sets (a membership or grant changed in this transaction)."""
    session.info.pop(_CACHE, None)


def _allowed(ctx, reference: str | None, column: str) -> bool:
    if sees_everything(ctx):
        return True
    inbox = load_inboxes(ctx, [reference]).get(reference) if reference else None
    if inbox is None:
        return False
    rule = _rules().get((ctx.caller.kind, "personal" if inbox.is_personal else "shared", relation(ctx, inbox)))
    return rule is not None and rule[column] == "true"


def sees_inbox(ctx, reference: str | None) -> bool:
    """True when the caller may see the inbox `reference` ("Practitioner/<id>" or "HealthcareService/<id>")."""
    visible = visible_inboxes(ctx)
    return visible is None or (reference is not None and reference in visible)


def sends_as(ctx, reference: str | None) -> bool:
    """True when the caller may send as the inbox (from a shared inbox: a member naming themself, MC-R38)."""
    return _allowed(ctx, reference, "sends_as")


# --- SQL conditions: the building blocks of each type's `visibility` hook --------------------------------


def _by_type(references) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for reference in sorted(references):
        target_type, _, target_id = reference.partition("/")
        grouped.setdefault(target_type, []).append(target_id)
    return grouped


def refers_to_visible_inbox(ctx, *, resource_type: str, params: tuple[str, ...], id_column):
    """The resource names an inbox the caller sees in one of `params` (e.g. Communication sender/recipient)."""
    grouped = _by_type(visible_inboxes(ctx))
    if not grouped:
        return false()
    targets = or_(*(and_(ReferenceIndex.target_type == t, ReferenceIndex.target_id.in_(ids)) for t, ids in grouped.items()))
    return exists().where(ReferenceIndex.resource_type == resource_type, ReferenceIndex.resource_id == id_column,
                          ReferenceIndex.param.in_(params), targets)


@cache
def kinds_giving_sight(resource_type: str) -> tuple[str, ...]:
    """Item kinds whose focus the item's inbox may see (mappings/item_sight.csv)."""
    return tuple(sorted(r["item_kind"] for r in table("item_sight") if resource_type in r["focus_types"].split("|")))


def carried_by_visible_item(ctx, *, resource_type: str, id_column):
    """An item of a kind that carries this type (a result, a co-sign, ...) is in an inbox the caller sees."""
    visible = visible_inboxes(ctx)
    kinds = kinds_giving_sight(resource_type)
    if not visible or not kinds:
        return false()
    return exists().where(InboxItem.focus == literal(f"{resource_type}/") + id_column,
                          InboxItem.kind.in_(kinds), InboxItem.owner.in_(sorted(visible)))


def item_in_visible_inbox(ctx, *, id_column):
    """A Task is seen by whoever sees its inbox, and a case also by its other party (MC-R3)."""
    visible = sorted(visible_inboxes(ctx) or ())
    if not visible:
        return false()
    return exists().where(InboxItem.task_id == id_column,
                          or_(InboxItem.owner.in_(visible), InboxItem.case_party.in_(visible)))


def created_by_callers_organisation(ctx, *, resource_type: str, id_column):
    """A system client sees what its own organisation delivered, ordered or filed."""
    if ctx.caller.kind != "client":
        return false()
    return exists().where(ResourceOrigin.resource_type == resource_type, ResourceOrigin.resource_id == id_column,
                          ResourceOrigin.organization_hsa_id == ctx.caller.organization_hsa_id)


def only_if(allowed: bool):
    """A condition that is all or nothing (e.g. the audit trail: revisors only)."""
    return true() if allowed else false()
