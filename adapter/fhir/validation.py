"""Validation of incoming resources, once, on arrival (DESIGN.md, "Wire").

1. JSON: parsed with depth and element-count limits (hostile bodies).
2. Structure: fhir.resources R4B models (unknown elements, wrong shapes), through a check
   compiled from them (`structure.py`) that asks the models only when it cannot accept.
3. The base R4 spec's rules that fhir.resources leaves out, read from the official
   definitions kept under `fhir_profiles/r4/`: JSON primitive types (a boolean is `true`, not
   `"yes"`), required bindings, and allowed reference target types.

Profiles of ours (pinned codes, required elements) run after this, per resource type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from adapter.errors import Issue, MalformedRequest, UnprocessableResource
from adapter.fhir import structure
from adapter.fhir.profiles import Profiles
from adapter.resources import load_json

_INTEGER_TYPES = {"integer", "positiveInt", "unsignedInt"}
_STRING_TYPES = {
    "base64Binary", "canonical", "code", "date", "dateTime", "id", "instant", "markdown", "oid",
    "string", "time", "uri", "url", "uuid", "xhtml",
}
_LITERAL_REFERENCE = re.compile(
    r"^(?:(?P<base>https?://\S+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


def parse_reference(reference: str) -> tuple[str | None, str, str] | None:
    """Split a literal reference into (base or None, type, id); None if it is not one."""
    match = _LITERAL_REFERENCE.match(reference)
    if not match:
        return None
    return match["base"], match["type"], match["id"]


def parse_json(body: bytes, *, max_depth: int, max_elements: int):
    """Parse a JSON body, refusing malformed text and bodies nested or sized beyond limits."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise MalformedRequest.simple("the body is not UTF-8 text") from None
    except RecursionError:
        raise MalformedRequest.simple(f"the JSON is nested deeper than {max_depth} levels", code="too-costly") from None
    except ValueError as exc:
        raise MalformedRequest.simple(f"the body is not valid JSON: {exc}") from None
    _check_json_shape(document, max_depth=max_depth, max_elements=max_elements)
    return document


def _check_json_shape(document, *, max_depth: int, max_elements: int) -> None:
    # Iterative, so that a hostile document cannot exhaust the interpreter's stack.
    stack = [(document, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > max_elements:
            raise MalformedRequest.simple(f"the JSON has more than {max_elements} elements", code="too-costly")
        if depth > max_depth:
            raise MalformedRequest.simple(f"the JSON is nested deeper than {max_depth} levels", code="too-costly")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def has_control_characters(text: str) -> bool:
    """True when `text` holds control characters other than tab, CR and LF (FHIR strings may not)."""
    return bool(_CONTROL_CHARACTERS.search(text))


def _forbidden_values(node, expression: str) -> list[tuple[str, str]]:
    """(expression, message) for JSON null elements and control characters in strings.

    fhir.resources reads null as absent; FHIR JSON forbids it (only primitive arrays may hold
    null, paired with their `_element` array, which the models judge). A NUL byte cannot be
    stored in PostgreSQL text at all.
    """
    found = []
    stack = [(node, expression)]
    while stack:
        current, where = stack.pop()
        items = current.items() if isinstance(current, dict) else (
            (f"[{i}]", v) for i, v in enumerate(current)) if isinstance(current, list) else ()
        for key, value in items:
            path = f"{where}{key}" if key.startswith("[") else f"{where}.{key}"
            if value is None and isinstance(current, dict):
                found.append((path, "null is not a value in FHIR JSON; leave the element out"))
            elif isinstance(value, str) and has_control_characters(value):
                found.append((path, "control characters are not allowed in FHIR strings"))
            elif isinstance(value, (dict, list)):
                stack.append((value, path))
    return sorted(found)


def _pydantic_expression(resource_type: str, loc: tuple) -> str:
    expression = resource_type
    for part in loc:
        if isinstance(part, int):
            expression += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            expression += f".{part}"
    return expression


@dataclass(frozen=True)
class _Element:
    row: dict
    choice_type: str | None  # the type a choice element `value[x]` took in this JSON key
    definition_path: str


class BaseDefinitions:
    """The R4 definitions subset, indexed by JSON path for fast walking."""

    def __init__(self, data: dict):
        self.resource_types: frozenset[str] = frozenset(data["resourceTypes"])
        self.types: dict = data["types"]
        self.valuesets: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in data["valuesets"].items()}

    @classmethod
    def load(cls) -> "BaseDefinitions":
        """Load the subset shipped in `fhir_profiles/r4/`."""
        return cls(load_json("fhir_profiles", "r4/base-definitions.json"))

    @cached_property
    def index(self) -> dict[str, dict[str, _Element]]:
        """type name -> {JSON path (choice elements expanded) -> element}."""
        index: dict[str, dict[str, _Element]] = {}
        for type_name, definition in self.types.items():
            by_path: dict[str, _Element] = {}
            for path, row in definition["elements"].items():
                if path.endswith("[x]"):
                    prefix = path[:-3]
                    for t in row.get("t", []):
                        by_path[prefix + t[0].upper() + t[1:]] = _Element(row, t, path)
                else:
                    by_path[path] = _Element(row, None, path)
            index[type_name] = by_path
        return index

    def required_codes(self, path: str, type_name: str | None = None) -> frozenset[str] | None:
        """The codes a required binding at `path` allows (None: not bound or not expandable)."""
        type_name = type_name or path.split(".")[0]
        element = self.index.get(type_name, {}).get(path)
        if element is None or "vs" not in element.row:
            return None
        return self.valuesets.get(element.row["vs"])


class ResourceValidator:
    """Runs steps 2 and 3 of the module docstring on one resource."""

    def __init__(self, definitions: BaseDefinitions, profiles: Profiles | None = None):
        self.definitions = definitions
        self.profiles = profiles if profiles is not None else Profiles.load()

    def check_profile(self, resource_type: str, resource: dict) -> None:
        """Our profile of the type, from its StructureDefinition (422 listing every departure)."""
        issues = self.profiles.issues(resource_type, resource)
        if issues:
            raise UnprocessableResource(*issues[:20])

    def check_resource_type(self, resource, expected: str | None) -> str:
        """Return the resource's type, refusing non-resources, non-R4 types and mismatches."""
        if not isinstance(resource, dict):
            raise MalformedRequest.simple("the body must be a JSON object (a FHIR resource)")
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            raise MalformedRequest.simple("the resource has no resourceType", expression="resourceType")
        if resource_type not in self.definitions.resource_types:
            raise MalformedRequest.simple(
                f"'{resource_type}' is not a FHIR R4 (4.0.1) resource type", code="not-supported", expression="resourceType"
            )
        if expected is not None and resource_type != expected:
            raise MalformedRequest.simple(
                f"resourceType '{resource_type}' does not match the endpoint's type '{expected}'",
                expression="resourceType",
            )
        return resource_type

    def validate(self, resource: dict, expected: str | None = None) -> str:
        """Validate structure and base-spec rules; return the resource type or raise."""
        resource_type = self.check_resource_type(resource, expected)
        self.check_structure(resource_type, resource)
        self.check_base_rules(resource_type, resource)
        return resource_type

    def check_base_rules(self, resource_type: str, resource: dict) -> None:
        """JSON primitive types (400), required bindings and reference targets (422)."""
        structural: list[Issue] = []
        semantic: list[Issue] = []
        self._walk(resource_type, resource_type, resource, resource_type, structural, semantic)
        if structural:
            raise MalformedRequest(*structural)
        if semantic:
            raise UnprocessableResource(*semantic)

    def check_structure(self, resource_type: str, resource: dict) -> None:
        """fhir.resources R4B: unknown elements, shapes, primitive formats (400)."""
        problems = _forbidden_values(resource, resource_type)
        if problems:
            raise MalformedRequest(*(Issue("structure", message, where) for where, message in problems[:20]))
        if structure.accepts(resource_type, resource):
            return  # what the compiled check accepts the models accept; anything else they judge
        try:
            get_fhir_model_class(resource_type).model_validate(resource)
        except ValidationError as exc:
            issues = [
                Issue(
                    code="structure" if err["type"] in {"extra_forbidden", "missing"} else "value",
                    diagnostics=(
                        "unknown element" if err["type"] == "extra_forbidden" else err["msg"]
                    ),
                    expression=_pydantic_expression(resource_type, err["loc"]),
                )
                for err in exc.errors(include_url=False, include_input=False)[:20]
            ]
            raise MalformedRequest(*issues) from None
        except (ValueError, TypeError) as exc:
            # fhir.resources raises plain errors for some shapes (e.g. a list where an object is due).
            raise MalformedRequest.simple(f"invalid structure: {exc}", expression=resource_type) from None

    def _walk(self, type_name: str, path: str, node: dict, expression: str, structural: list, semantic: list) -> None:
        index = self.definitions.index.get(type_name)
        if index is None or not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "resourceType" or key.startswith("_"):
                continue  # primitive extensions: shape checked by the models
            element = index.get(f"{path}.{key}")
            if element is None:
                continue  # unknown elements were refused by the structural step
            items = value if isinstance(value, list) else [value]
            for position, item in enumerate(items):
                where = f"{expression}.{key}[{position}]" if isinstance(value, list) else f"{expression}.{key}"
                self._check_value(type_name, element, item, where, structural, semantic)

    def _check_value(self, type_name: str, element: _Element, item, where: str, structural: list, semantic: list) -> None:
        row = element.row
        if "ref" in row:  # contentReference: same structure as another backbone element
            self._walk(type_name, row["ref"], item, where, structural, semantic)
            return
        types = row.get("t", [])
        value_type = element.choice_type or (types[0] if len(types) == 1 else None)
        if value_type is None:
            return
        if value_type == "boolean":
            if not isinstance(item, bool):
                structural.append(Issue("value", "a boolean must be JSON true or false", where))
        elif value_type in _INTEGER_TYPES:
            if isinstance(item, bool) or not isinstance(item, int):
                structural.append(Issue("value", f"a {value_type} must be a JSON number without decimals", where))
        elif value_type == "decimal":
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                structural.append(Issue("value", "a decimal must be a JSON number", where))
        elif value_type in _STRING_TYPES:
            if not isinstance(item, str):
                structural.append(Issue("value", f"a {value_type} must be a JSON string", where))
            elif value_type == "code" and "vs" in row:
                codes = self.definitions.valuesets.get(row["vs"])
                if codes is not None and item not in codes:
                    semantic.append(
                        Issue("code-invalid", f"'{item}' is not a code of the required value set {row['vs']}", where)
                    )
        elif value_type == "Reference":
            self._check_reference_target(row, item, where, semantic)
            self._walk("Reference", "Reference", item, where, structural, semantic)
        elif value_type in ("BackboneElement", "Element"):
            self._walk(type_name, element.definition_path, item, where, structural, semantic)
        elif value_type == "Resource":
            if isinstance(item, dict):
                inner = item.get("resourceType")
                if inner not in self.definitions.resource_types:
                    structural.append(Issue("not-supported", f"'{inner}' is not a FHIR R4 resource type", where))
                else:
                    self._walk(inner, inner, item, where, structural, semantic)
        else:
            self._walk(value_type, value_type, item, where, structural, semantic)

    @staticmethod
    def _check_reference_target(row: dict, item, where: str, semantic: list) -> None:
        targets = row.get("targets")
        if not targets or "Resource" in targets or not isinstance(item, dict):
            return
        declared = item.get("type")
        if isinstance(declared, str) and declared not in targets:
            semantic.append(
                Issue("invalid", f"Reference.type '{declared}' is not allowed here (allowed: {', '.join(targets)})", f"{where}.type")
            )
        reference = item.get("reference")
        if not isinstance(reference, str):
            return
        parsed = parse_reference(reference)
        if parsed and parsed[1] not in targets:
            semantic.append(
                Issue(
                    "invalid",
                    f"a reference to {parsed[1]} is not allowed here (allowed: {', '.join(targets)})",
                    f"{where}.reference",
                )
            )
