"""Who sees which inbox, and so which items and messages (DESIGN.md, "Security").

A system client sees its organisation's shared inboxes; a user sees their own personal inbox,
the shared inboxes they are a member of, and the personal inboxes they are an active proxy for
(one step: never an inbox their principal is proxy for, MC-R44); the sandbox's anonymous
caller and the adapter see everything. What a caller may not see is 404 (no existence leaks).
"""

from __future__ import annotations

from adapter.directory.inboxes import is_member, load_inboxes
from adapter.proxies.service import is_active_proxy


def sees_everything(ctx) -> bool:
    """The adapter itself, and the sandbox's anonymous caller (sandbox only)."""
    return ctx.caller.kind in ("adapter", "anonymous")


def sees_inbox(ctx, reference: str | None) -> bool:
    """True when the caller may see the inbox `reference` ("Practitioner/<id>" or "HealthcareService/<id>")."""
    if sees_everything(ctx):
        return True
    if not reference:
        return False
    inbox = load_inboxes(ctx, [reference]).get(reference)
    if inbox is None:
        return False
    caller = ctx.caller
    if caller.kind == "client":
        return not inbox.is_personal and inbox.organization_hsa_id == caller.organization_hsa_id
    if caller.kind == "user" and caller.practitioner_id:
        if inbox.is_personal:
            return inbox.id == caller.practitioner_id or is_active_proxy(
                ctx, proxy_id=caller.practitioner_id, principal_id=inbox.id)
        return is_member(ctx, practitioner_id=caller.practitioner_id, inbox=inbox)
    return False


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
