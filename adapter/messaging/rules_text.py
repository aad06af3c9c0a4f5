"""The flow rules as text, for `mc-adapter rules` and the README."""

from __future__ import annotations

from adapter.mappings import table
from adapter.messaging.policy import Routine

COLUMNS = ["order", "category", "sender_inbox", "sender_party", "recipient_inbox", "recipient_party", "caller",
           "patient", "save_to_journal", "to_self", "dialogue_held", "same_provider", "reply_to_shared", "decision", "rule",
           "reason_en"]


def render_rules(routine: Routine) -> str:
    """A Markdown table of the flow rules, headed by the routine's identity."""
    lines = [f"Routine {routine.document}, version {routine.version}, valid {routine.valid_from} to {routine.valid_to}",
             "First matching row decides; `*` matches anything, `a|b` either, `shared` any shared inbox.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table("flow_rules"):
        lines.append("| " + " | ".join(row[c] for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
