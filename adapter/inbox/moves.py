"""Merging a unit moves its open items to the successor's matching inboxes, keeping their history (MC-R31)."""

from __future__ import annotations

from sqlalchemy import select

from adapter.directory import lookups, shapes
from adapter.fhir import service, store
from adapter.inbox.models import InboxItem


def _unit_inboxes_by_suffix(ctx, unit_id: str) -> dict[str, str]:
    inbox_ids = lookups.referring_ids(ctx.session, resource_type="HealthcareService", param="organization",
                                      target_type="Organization", target_id=unit_id)
    found = {}
    for stored in store.load_many(ctx.session, resource_type="HealthcareService", ids=inbox_ids).values():
        inbox = stored.as_dict()
        identifier = shapes.inbox_identifier(inbox)
        if identifier and shapes.inbox_kind(inbox) != "function":
            found[identifier.split("#", 1)[1]] = stored.reference
    return found


def move_open_items(ctx, *, unit_id: str, successor_id: str) -> None:
    """Listener of "unit-merged": each open item of A's meddelande/samverkan inbox moves to B's."""
    source = _unit_inboxes_by_suffix(ctx, unit_id)
    target = _unit_inboxes_by_suffix(ctx, successor_id)
    definition = ctx.registry.resource("Task")
    for suffix, from_inbox in sorted(source.items()):
        to_inbox = target.get(suffix)
        if to_inbox is None:
            continue
        task_ids = ctx.session.execute(
            select(InboxItem.task_id).where(InboxItem.owner == from_inbox, InboxItem.status != "completed",
                                            InboxItem.trashed_at.is_(None)).order_by(InboxItem.feed_xid, InboxItem.feed_pos)
        ).scalars().all()
        for task_id in task_ids:
            current = store.load_current(ctx.session, resource_type="Task", resource_id=task_id, for_update=True)
            task = current.as_dict()
            task["owner"] = {"reference": to_inbox}
            service.write(ctx.as_adapter(), definition=definition, resource=task, resource_id=task_id, previous=current)
