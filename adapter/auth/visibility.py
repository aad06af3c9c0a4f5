"""Who sees which inbox, and so which items and messages (DESIGN.md, "Security").

The rules are the table `mappings/access_rules.csv` (caller kind x inbox kind x relation);
`relation` works out how the caller stands to an inbox. In short: a system client sees its
organisation's shared inboxes; a user sees their own personal inbox,
the shared inboxes they are a member of, and the personal inboxes they are an active proxy for
(one step: never an inbox their principal is proxy for, MC-R44); the sandbox operator
caller and the adapter see everything. What a caller may not see is 404 (no existence leaks).
"""

from __future__ import annotations

from functools import cache

from adapter.directory.inboxes import is_member, load_inboxes
from adapter.mappings import table
from adapter.proxies.service import is_active_proxy


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
    return _allowed(ctx, reference, "sees")


def sends_as(ctx, reference: str | None) -> bool:
    """True when the caller may send as the inbox (from a shared inbox: a member naming themself, MC-R38)."""
    return _allowed(ctx, reference, "sends_as")


def sees_task(ctx, task: dict) -> bool:
    """An item is seen by whoever sees its inbox."""
    return sees_inbox(ctx, (task.get("owner") or {}).get("reference"))


def sees_communication(ctx, communication: dict) -> bool:
    """A message is seen by whoever sees its sending inbox or one of its recipients' inboxes."""
    if sees_everything(ctx):
        return True
    ends = [(communication.get("sender") or {}).get("reference")]
    ends += [(r or {}).get("reference") for r in communication.get("recipient", [])]
    return any(sees_inbox(ctx, ref) for ref in ends if ref)
