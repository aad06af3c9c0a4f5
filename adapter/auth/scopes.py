"""SMART scopes (v1 `.read`/`.write` and v2 `.cruds`) and the interaction each FHIR request needs."""

from __future__ import annotations

import re

_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>read|write|\*|[cruds]+)$")
INTERACTION_LETTERS = {
    "read": "r", "vread": "r", "history": "r", "search": "s", "create": "c", "update": "u", "patch": "u",
    "operation": "u", "transaction": "c",
}


def parse(scope_text: str) -> dict[str, set[str]]:
    """{resource type or "*": permitted letters}; unknown scopes are left out."""
    granted: dict[str, set[str]] = {}
    for scope in scope_text.split():
        match = _SCOPE.match(scope)
        if not match:
            continue
        perm = match["perm"]
        letters = {"read": {"r", "s"}, "write": {"c", "u", "d"}, "*": set("cruds")}.get(perm, set(perm))
        granted.setdefault(match["type"], set()).update(letters)
    return granted


def valid(scope: str) -> bool:
    """True for a well-formed system scope."""
    return bool(_SCOPE.match(scope))


def allows(scope_text: str, resource_type: str, interaction: str) -> bool:
    """Whether the granted scopes permit `interaction` on `resource_type`."""
    letter = INTERACTION_LETTERS.get(interaction)
    if letter is None:
        return False
    granted = parse(scope_text)
    return letter in granted.get(resource_type, set()) | granted.get("*", set())


def narrow(requested: str, registered: str) -> str:
    """The requested scopes the client is registered for (a scope names a type and letters)."""
    allowed = parse(registered)
    kept = []
    for scope in requested.split():
        match = _SCOPE.match(scope)
        if not match:
            continue
        wanted = parse(scope)[match["type"]]
        permitted = allowed.get(match["type"], set()) | allowed.get("*", set())
        if wanted <= permitted:
            kept.append(scope)
    return " ".join(kept)
