"""Inbox rules as plain Python: folders (MC-R13), priority items (MC-R14), the status machine (MC-R26, MC-R27).

Reads the tables in `mappings/`; imports neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from adapter.errors import RuleViolation
from adapter.mappings import table

TRASH = "trash"
PRIORITY = "priority"


@cache
def home_folder(item_kind: str) -> str:
    """The folder an item of this kind lives in (MC-R13)."""
    for row in table("item_folders"):
        if row["item_kind"] == item_kind:
            return row["folder"]
    raise KeyError(item_kind)


@cache
def kinds_in_folder(folder: str) -> frozenset[str]:
    """The item kinds whose home is `folder`."""
    return frozenset(r["item_kind"] for r in table("item_folders") if r["folder"] == folder)


@cache
def priority_kinds() -> frozenset[str]:
    """Kinds that are always priority items (MC-R14)."""
    return frozenset(r["value"] for r in table("priority_items") if r["criterion"] == "item_kind")


@cache
def high_priorities() -> frozenset[str]:
    """Task priorities that make an item a priority item (MC-R14)."""
    return frozenset(r["value"] for r in table("priority_items") if r["criterion"] == "priority")


def is_priority_item(*, kind: str, priority: str | None, due: datetime | None, status: str, now: datetime) -> bool:
    """Priority items are computed at query time, beside the home folder (MC-R14)."""
    if status == "completed":
        return False
    return kind in priority_kinds() or priority in high_priorities() or (due is not None and due < now)


@cache
def item_status(status: str) -> str:
    """The item-status code (businessStatus) that goes with a Task.status."""
    for row in table("item_statuses"):
        if row["status"] == status:
            return row["item_status"]
    raise KeyError(status)


@cache
def _transitions() -> dict[tuple[str, str], str]:
    return {(r["from_status"], r["to_status"]): r["rule"] for r in table("item_transitions")}


def check_transition(current: str, wanted: str) -> None:
    """Allow a status change the table declares (or none); else 422 citing the rule (MC-R26, MC-R27)."""
    if current == wanted or (current, wanted) in _transitions():
        return
    allowed = sorted(to for (frm, to) in _transitions() if frm == current)
    raise RuleViolation(
        "MC-R26",
        f"An item cannot go from {current} to {wanted}; from {current} it may go to: {', '.join(allowed) or 'nothing'}.",
        f"Ett objekt kan inte gå från {current} till {wanted}.",
        "Task.status",
    )
