"""The trash (MC-R22): purged 30 days after trashing, or emptied by the owner at any time.

Only the items go; the clinical resource in focus (a Communication, a result) stays.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from adapter.fhir import service, store
from adapter.fhir.models import DateIndex, ReferenceIndex, ResourceRow, ResourceVersion, TokenIndex
from adapter.inbox.models import InboxItem
from adapter.inbox.updates import check_may_handle

PURGE_AFTER = timedelta(days=30)


def _delete_items(session, task_ids: list[str]) -> None:
    if not task_ids:
        return
    store.forget(session, resource_type="Task", ids=task_ids)
    session.execute(delete(InboxItem).where(InboxItem.task_id.in_(task_ids)))
    for model, column in ((ResourceRow, ResourceRow.id), (ResourceVersion, ResourceVersion.id)):
        session.execute(delete(model).where(model.resource_type == "Task", column.in_(task_ids)))
    for model in (TokenIndex, ReferenceIndex, DateIndex):
        session.execute(delete(model).where(model.resource_type == "Task", model.resource_id.in_(task_ids)))


def _claim(session, condition, limit: int) -> list[str]:
    query = select(InboxItem.task_id).where(condition).order_by(InboxItem.trashed_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Several hosts may purge at once: each takes rows no one else holds.
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())


def purge_batch(session, *, now, limit: int = 500) -> int:
    """Delete up to `limit` items trashed 30 days ago or more; returns how many (0: done)."""
    task_ids = _claim(session, InboxItem.trashed_at <= now - PURGE_AFTER, limit)
    _delete_items(session, task_ids)
    return len(task_ids)


def empty_trash(ctx, resource_id: str, parameters, *, resource_type: str) -> tuple[int, dict]:
    """`POST /fhir/{Practitioner|HealthcareService}/{id}/$empty-trash`: the owner empties the trash now."""
    service.read(ctx, resource_type=resource_type, resource_id=resource_id)  # 404 for an unknown inbox
    owner = f"{resource_type}/{resource_id}"
    check_may_handle(ctx, owner)
    deleted = 0
    while True:
        task_ids = _claim(ctx.session, (InboxItem.owner == owner) & InboxItem.trashed_at.is_not(None), 500)
        if not task_ids:
            break
        _delete_items(ctx.session, task_ids)
        deleted += len(task_ids)
    return 200, {"resourceType": "OperationOutcome", "issue": [{
        "severity": "information", "code": "informational", "diagnostics": f"{deleted} items deleted from the trash"}]}


def purge_job(sessions, now, *, batch_size: int = 500) -> str:
    """The daily periodic job (MC-R22): purge in batches, each its own transaction."""
    total = 0
    while True:
        with sessions.begin() as session:
            deleted = purge_batch(session, now=now, limit=batch_size)
        total += deleted
        if deleted < batch_size:
            return f"{total} items purged"
