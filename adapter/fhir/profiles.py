"""Our profiles, enforced from their StructureDefinitions: one validator, driven by data.

Each `fhir_profiles/StructureDefinition/*.json` of kind `resource` is a differential profile of a
type we serve. Its elements are compiled once per process into rules:
- cardinality (`min`, `max`), also of extension slices (`Type.extension:name`, matched by the
  extension's URL, which the slice's `type.profile` names);
- `fixed[x]` (equal) and `pattern[x]` (contains) values;
- required bindings to our ValueSets (every code of the CodeSystems they include);
- `constraint`s with a FHIRPath `expression`, evaluated with fhirpathpy on each node of the
  element (error severity refuses; warnings are left to `$validate` readers of the profile).

What the profiles do not say (the routine's rules across resources) stays in the domains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models

from adapter.errors import Issue
from adapter.fhir.fhirpath_subset import compile_subset
from adapter.resources import data_dir, load_json

_R4 = models["r4"]


@dataclass(frozen=True)
class ElementRule:
    """What one differential element requires of the nodes at its path."""

    expression: str  # e.g. "Communication.category" or "Communication.extension:sentBy"
    segments: tuple[str, ...]  # path below the resource, e.g. ("category",)
    slice_url: str | None = None
    min: int = 0
    max: int | None = None  # None: unbounded
    fixed: object = None
    pattern: object = None
    codes: frozenset[tuple[str, str]] | None = None  # required binding: (system, code)
    systems: frozenset[str] = frozenset()
    value_set: str | None = None
    short: str = ""


@dataclass(frozen=True)
class Invariant:
    """A FHIRPath constraint of an element."""

    key: str
    human: str
    expression_text: str
    segments: tuple[str, ...]
    evaluate: object = field(compare=False, hash=False)


@dataclass
class Profile:
    """One compiled profile."""

    url: str
    type: str
    rules: list[ElementRule]
    invariants: list[Invariant]

    def issues(self, resource: dict) -> list[Issue]:
        """Every way `resource` departs from the profile (empty when it conforms)."""
        found: list[Issue] = []
        for rule in self.rules:
            found += _check_rule(rule, resource)
        for invariant in self.invariants:
            for node, where in _nodes(resource, invariant.segments, self.type):
                if invariant.evaluate(node) == [False]:
                    found.append(Issue("invariant", f"{invariant.key}: {invariant.human}", where))
        return found


def _children(node, name: str, slice_url: str | None) -> list:
    if not isinstance(node, dict) or name not in node:
        return []
    value = node[name]
    items = value if isinstance(value, list) else [value]
    if slice_url is not None:
        items = [i for i in items if isinstance(i, dict) and i.get("url") == slice_url]
    return items


def _nodes(resource: dict, segments: tuple[str, ...], root: str) -> list[tuple[object, str]]:
    """The nodes at `segments` below the resource, with an expression naming each."""
    current = [(resource, root)]
    for segment in segments:
        following = []
        for node, where in current:
            items = _children(node, segment, None)
            many = isinstance(node.get(segment), list) if isinstance(node, dict) else False
            following += [(item, f"{where}.{segment}[{i}]" if many else f"{where}.{segment}") for i, item in enumerate(items)]
        current = following
    return current


def _check_rule(rule: ElementRule, resource: dict) -> list[Issue]:
    found = []
    root = rule.expression.split(".", 1)[0]
    parents = _nodes(resource, rule.segments[:-1], root)
    name = rule.segments[-1]
    for parent, where in parents:
        items = _children(parent, name, rule.slice_url)
        here = f"{where}.{name}"
        if len(items) < rule.min:
            found.append(Issue("required", f"{rule.expression}: at least {rule.min} required ({rule.short})", here))
        if rule.max is not None and len(items) > rule.max:
            found.append(Issue("structure", f"{rule.expression}: at most {rule.max} allowed ({rule.short})", here))
        for item in items:
            found += _check_value(rule, item, here)
    return found


def _check_value(rule: ElementRule, item, where: str) -> list[Issue]:
    if rule.fixed is not None and item != rule.fixed:
        return [Issue("value", f"{rule.expression} must be {rule.fixed!r}", where)]
    if rule.pattern is not None and not _contains(item, rule.pattern):
        return [Issue("value", f"{rule.expression} must match the pattern {rule.pattern!r}", where)]
    if rule.codes is not None and not _bound(rule, item):
        return [Issue("code-invalid", f"{rule.expression} needs a code of the required value set {rule.value_set}", where)]
    return []


def _contains(item, pattern) -> bool:
    if isinstance(pattern, dict):
        return isinstance(item, dict) and all(_contains(item.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(item, list) and all(any(_contains(i, p) for i in item) for p in pattern)
    return item == pattern


def _bound(rule: ElementRule, item) -> bool:
    """A required binding: a code from the value set, and no unknown code of its systems."""
    if isinstance(item, str):
        return any(item == code for _, code in rule.codes)
    codings = item.get("coding", []) if isinstance(item, dict) and "coding" in item else [item]
    pairs = [(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)]
    if any(system in rule.systems and (system, code) not in rule.codes for system, code in pairs):
        return False
    return any(pair in rule.codes for pair in pairs)


def _value_of(element: dict, prefix: str):
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix):][:1].isupper():
            return value
    return None


class Profiles:
    """Every profile in `fhir_profiles/StructureDefinition/`, compiled, by type."""

    def __init__(self, definitions: list[dict]):
        self._definitions = [d for d in definitions if d.get("kind") == "resource" and d.get("derivation") == "constraint"]

    @classmethod
    def load(cls) -> "Profiles":
        """Read the shipped StructureDefinitions."""
        folder = data_dir("fhir_profiles") / "StructureDefinition"
        return cls([load_json("fhir_profiles", f"StructureDefinition/{p.name}") for p in sorted(folder.glob("*.json"))])

    @cached_property
    def by_type(self) -> dict[str, Profile]:
        """type -> its compiled profile (one per type: what the adapter serves is one shape)."""
        compiled = {}
        for definition in self._definitions:
            if definition["type"] in compiled:
                raise ValueError(f"two profiles of {definition['type']}")
            compiled[definition["type"]] = _compile(definition)
        return compiled

    def url_of(self, resource_type: str) -> str | None:
        """The canonical URL of the type's profile, or None."""
        profile = self.by_type.get(resource_type)
        return profile.url if profile else None

    def issues(self, resource_type: str, resource: dict) -> list[Issue]:
        """How `resource` departs from its type's profile (empty without one)."""
        profile = self.by_type.get(resource_type)
        return profile.issues(resource) if profile else []


def _compile(definition: dict) -> Profile:
    type_name = definition["type"]
    rules, invariants = [], []
    for element in definition["differential"]["element"]:
        element_id = element["id"]
        path_part, _, slice_name = element_id.partition(":")
        segments = tuple(path_part.split(".")[1:])
        for constraint in element.get("constraint", []):
            if constraint.get("severity", "error") == "error" and constraint.get("expression"):
                expression = constraint["expression"]
                invariants.append(Invariant(constraint["key"], constraint["human"], expression, segments,
                                            compile_subset(expression) or compile_fhirpath(expression, _R4)))
        if not segments:
            continue
        if slice_name and segments[-1] not in ("extension", "modifierExtension"):
            raise ValueError(f"{definition['url']}: only extensions are sliced in our profiles ({element_id})")
        if "." in slice_name:
            raise ValueError(f"{definition['url']}: elements inside a slice are defined by the extension ({element_id})")
        slice_url = element["type"][0]["profile"][0] if slice_name else None
        rule = ElementRule(
            expression=element_id, segments=segments, slice_url=slice_url, min=int(element.get("min", 0)),
            max=None if element.get("max", "*") == "*" else int(element["max"]),
            fixed=_value_of(element, "fixed"), pattern=_value_of(element, "pattern"), short=element.get("short", ""),
            **_binding(element.get("binding")),
        )
        if rule.min or rule.max is not None or rule.fixed is not None or rule.pattern is not None or rule.codes is not None:
            rules.append(rule)
    return Profile(definition["url"], type_name, rules, invariants)


def _binding(binding: dict | None) -> dict:
    """Required bindings to our ValueSets, expanded to their (system, code) pairs."""
    if not binding or binding.get("strength") != "required":
        return {}
    url = binding["valueSet"].partition("|")[0]
    name = url.rsplit("/", 1)[-1]
    if "/ValueSet/" not in url or not (data_dir("fhir_profiles") / "ValueSet" / f"{name}.json").is_file():
        return {}  # an HL7 value set: the base validation checks the R4 required bindings
    value_set = load_json("fhir_profiles", f"ValueSet/{name}.json")
    codes = set()
    for include in value_set["compose"]["include"]:
        system = include["system"]
        code_system = load_json("fhir_profiles", f"CodeSystem/{system.rsplit('/', 1)[-1]}.json")
        listed = [c["code"] for c in include.get("concept", [])] or [c["code"] for c in code_system["concept"]]
        codes |= {(system, code) for code in listed}
    return {"codes": frozenset(codes), "systems": frozenset(s for s, _ in codes), "value_set": url}
