"""Render the declarative tables into the README between generated markers.

    python -m adapter.docs          # rewrite README.md's generated sections
    python -m adapter.docs --check  # exit 1 when README.md is out of date (CI, tests)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from adapter.mappings import table

_SECTION = re.compile(r"(<!-- BEGIN generated:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- END generated:(?P=name) -->)", re.S)


def _markdown(rows: tuple[dict, ...], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    # A list inside a cell ("message|case-start") is escaped, or it would split the cell.
    lines += ["| " + " | ".join((row[c] or "–").replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


RENDERERS = {
    "unit_inboxes": lambda: _markdown(table("unit_inboxes"), ["organization_kind", "inbox_kind", "identifier_suffix", "rule"]),
    "organization_kinds": lambda: _markdown(table("organization_kinds"), ["code", "is_unit", "municipal", "rule", "note"]),
    "roles": lambda: _markdown(table("roles"), ["code", "administers_directory", "rule", "note"]),
    "flow_rules": lambda: _flow_rules(),
    "item_folders": lambda: _markdown(table("item_folders"), ["item_kind", "folder", "rule", "note"]),
    "priority_items": lambda: _markdown(table("priority_items"), ["criterion", "value", "rule", "note"]),
    "item_transitions": lambda: _markdown(table("item_transitions"), ["from_status", "to_status", "rule", "note"]),
    "item_statuses": lambda: _markdown(table("item_statuses"), ["status", "item_status", "rule", "note"]),
    "item_deadlines": lambda: _markdown(table("item_deadlines"), ["item_kind", "days", "rule", "note"]),
    "access_rules": lambda: _markdown(table("access_rules"), ["caller", "inbox", "relation", "sees", "sends_as", "rule", "note"]),
    "cosign_roles": lambda: _markdown(table("cosign_roles"), ["role", "may_order", "cosigner", "rule", "note"]),
    "item_sight": lambda: _markdown(table("item_sight"), ["item_kind", "focus_types", "rule", "note"]),
    "client_capabilities": lambda: _markdown(table("client_capabilities"), ["capability", "rule", "note"]),
    "signable_items": lambda: _markdown(table("signable_items"), ["item_kind", "rule", "note"]),
    "message_events": lambda: _markdown(table("message_events"), ["event", "focus", "categories", "handling", "rule", "note"]),
    "millennium_items": lambda: _markdown(table("millennium_items"), ["item_kind", "upstream", "millennium_category", "rule", "note"]),
    "millennium_priorities": lambda: _markdown(table("millennium_priorities"), ["priority", "millennium_priority", "rule", "note"]),
    "millennium_inbound": lambda: _markdown(table("millennium_inbound"), ["millennium_category", "answers", "category", "rule", "note"]),
    "category_items": lambda: _markdown(table("category_items"), ["category", "item_kind", "system_category", "rule", "note"]),
    "opening_hours": lambda: _markdown(table("opening_hours"), ["unit", "weekdays", "opens", "closes", "rule", "note"]),
    "watch_requirements": lambda: _markdown(table("watch_requirements"), ["inbox_kind", "watches_per_day", "setting", "rule", "note"]),
    "followup_frames": lambda: _markdown(table("followup_frames"), ["item_kind", "days", "setting", "rule", "note"]),
}


def _flow_rules() -> str:
    from adapter.messaging.policy import Routine
    from adapter.messaging.rules_text import render_rules

    return render_rules(Routine.from_table())


def render(text: str) -> str:
    """`text` with every generated section rendered anew."""
    def replace(match: re.Match) -> str:
        renderer = RENDERERS.get(match["name"])
        body = renderer() if renderer else match["body"]
        return match.group(1) + body + match.group(4)

    return _SECTION.sub(replace, text)


def write_or_check(path: Path, fresh: str, *, check: bool, command: str) -> int:
    """Write a generated document, or with `check` return 1 (and say so) when it differs from `fresh`."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if check:
        if fresh != current:
            print(f"{path} is out of date: run `{command}`", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh, encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    readme = Path(argv[argv.index("--readme") + 1]) if "--readme" in argv else Path("README.md")
    fresh = render(readme.read_text(encoding="utf-8"))
    return write_or_check(readme, fresh, check="--check" in argv, command="python -m adapter.docs")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
