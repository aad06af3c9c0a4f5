"""Directory rules as plain Python: which inboxes a unit has, what lifecycle changes are allowed.

Reads the tables in `mappings/`; imports neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.errors import RuleViolation
from adapter.mappings import table


@dataclass(frozen=True)
class InboxSpec:
    """An organisation-bound shared inbox a unit must have (MC-R29)."""

    inbox_kind: str
    identifier_suffix: str
    name_suffix: str
    rule: str

    def identifier(self, unit_hsa_id: str) -> str:
        """The pinned inbox identifier, `<unit HSA-id>#<suffix>` (DESIGN.md)."""
        return f"{unit_hsa_id}#{self.identifier_suffix}"


def unit_inboxes(organization_kind: str) -> list[InboxSpec]:
    """The shared inboxes created with a unit of this kind (MC-R29, MC-R31; MC-R3 for schools)."""
    return [
        InboxSpec(row["inbox_kind"], row["identifier_suffix"], row["name_suffix"], row["rule"])
        for row in table("unit_inboxes")
        if row["organization_kind"] == organization_kind
    ]


def is_unit(organization_kind: str) -> bool:
    """True for kinds that are units (HSA level 5) rather than a level above them."""
    return any(r["code"] == organization_kind and r["is_unit"] == "true" for r in table("organization_kinds"))


def is_municipal(organization_kind: str) -> bool:
    """True for municipality units (MC-R7)."""
    return any(r["code"] == organization_kind and r["municipal"] == "true" for r in table("organization_kinds"))


def administers_directory(role: str) -> bool:
    """True for roles that may change the directory and function inboxes (MC-R32)."""
    return any(r["code"] == role and r["administers_directory"] == "true" for r in table("roles"))


def check_merge(*, unit_id: str, unit_kind: str, unit_active: bool, current_successor: str | None,
                successor_id: str, successor_kind: str, successor_active: bool) -> bool:
    """Decide a merge of unit into successor (MC-R31); True when it is already done (idempotent)."""
    if unit_id == successor_id:
        raise RuleViolation("MC-R31", "A unit cannot be merged into itself.",
                            "En enhet kan inte slås samman med sig själv.", "Parameters.parameter")
    if not is_unit(unit_kind) or not is_unit(successor_kind):
        raise RuleViolation("MC-R31", "Only units (HSA level 5) are merged; a verksamhet has no inboxes.",
                            "Endast enheter (HSA-nivå 5) kan slås samman.", "Parameters.parameter")
    if current_successor is not None:
        if current_successor == successor_id:
            return True
        raise RuleViolation("MC-R31", f"The unit was already merged into Organization/{current_successor}.",
                            f"Enheten är redan sammanslagen med Organization/{current_successor}.", "Parameters.parameter")
    if not successor_active:
        raise RuleViolation("MC-R31", "The successor unit is closed; merge into an active unit.",
                            "Den mottagande enheten är stängd.", "Parameters.parameter")
    if not unit_active:
        raise RuleViolation("MC-R31", "The unit is closed; only an active unit can be merged.",
                            "Enheten är redan stängd.", "Parameters.parameter")
    return False


def party_of(org_kinds: set[str] | frozenset[str]) -> str:
    """Whose inbox: a user with any role at a municipality is municipal (MC-R7, DESIGN.md)."""
    if not org_kinds:
        return "unassigned"
    if any(is_municipal(kind) for kind in org_kinds):
        return "municipal"
    if org_kinds <= {"school", "other"}:
        return "school-other"
    return "care"
