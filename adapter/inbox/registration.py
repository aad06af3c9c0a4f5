"""Inbox items as Task: polled per inbox, updated by recipients, reminders created by users."""

from __future__ import annotations

from functools import partial

from adapter.auth import visibility
from adapter.fhir.registry import WITH_PATCH, Operation, OperationParameter, PeriodicJob, Registry, ResourceDefinition, SearchParam
from adapter.identifiers import BASE
from adapter.inbox import feed, moves, tasks, trash, updates

R4 = "http://hl7.org/fhir/SearchParameter"


def _visibility(ctx, id_column):
    """An item is seen by whoever sees its inbox (a case also by its other party, MC-R3)."""
    if visibility.sees_everything(ctx):
        return None
    return visibility.item_in_visible_inbox(ctx, id_column=id_column)


def register(registry: Registry) -> None:
    """Serve Task, the inboxes' $empty-trash, and move items when units merge."""
    params = (
        SearchParam("owner", "reference", ("Task.owner",), "The inbox polled (required)", targets=("Practitioner", "HealthcareService"), definition=f"{R4}/Task-owner"),
        SearchParam("status", "token", ("Task.status",), "requested, in-progress, on-hold, completed", definition=f"{R4}/Task-status"),
        SearchParam("code", "token", ("Task.code",), "The item-kind", definition=f"{R4}/Task-code"),
        SearchParam("folder", "token", (), "The folder (MC-R13); priority is computed at query time (MC-R14); trash (MC-R22)",
                    definition=f"{BASE}/SearchParameter/Task-folder"),
        SearchParam("due", "date", ("Task.restriction.period.end",), "The due date", definition=f"{BASE}/SearchParameter/Task-due"),
        SearchParam("assignee", "reference", (), "The member a shared-inbox item is assigned to (MC-R37)",
                    targets=("Practitioner",), definition=f"{BASE}/SearchParameter/Task-assignee"),
        SearchParam("focus", "reference", ("Task.focus",), "What the item is about", definition=f"{R4}/Task-focus"),
    )
    registry.add_resource(ResourceDefinition(
        name="Task",
        search_params={p.name: p for p in params},
        profile=updates.task_profile,
        after_write=feed.project_item,
        after_write_many=feed.project_new_items,
        create_handler=tasks.create_task,
        search_handler=feed.search_tasks,
        generic_index=False,
        visibility=_visibility,
        require_if_match=True,
        interactions=WITH_PATCH,
    ))
    for inbox_type in ("Practitioner", "HealthcareService"):
        registry.add_operation(Operation(
            resource_type=inbox_type, name="empty-trash", handler=partial(trash.empty_trash, resource_type=inbox_type),
            description="Delete the items in this inbox's trash now (MC-R22); the clinical resources stay",
            parameters=(OperationParameter("return", "out", "OperationOutcome", "How many items were deleted", min=1),),
        ))
    registry.on("unit-merged", moves.move_open_items)
    registry.add_periodic_job(PeriodicJob(
        name="trash-purge", interval_seconds=24 * 3600, run=trash.purge_job,
        description="The trash empties by itself: items trashed 30 days ago or more are deleted (MC-R22)",
    ))
