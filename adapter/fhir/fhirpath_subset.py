"""The FHIRPath our profiles' invariants use, compiled to plain Python (issue #17).

fhirpathpy interprets an expression's parse tree on every evaluation: the one invariant of a
Communication (`mc-com-1`) cost a thirtieth of an ingest request. The invariants we ship use a
small part of the language: paths, `where(...)`, `exists()`, `empty()`, `count()`, `=` and `!=`
against a string or integer literal, `and`, `or`. `compile_subset` turns such an expression into
a function of a JSON node with FHIRPath's semantics (collections, empty propagation, three-valued
logic); for anything else it returns None and the caller keeps fhirpathpy. A property test
checks the two agree on generated resources.
"""

from __future__ import annotations

import re
from typing import Callable

Collection = list
Evaluator = Callable[[Collection], Collection]

_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>!=|[=().]))")
_FUNCTIONS = {"exists", "empty", "count", "where"}
_KEYWORDS = {"and", "or", "xor", "implies", "div", "mod", "in", "contains", "is", "as", "true", "false"}


class _Unsupported(Exception):
    """The expression uses FHIRPath beyond the subset."""


def compile_subset(expression: str) -> Callable[[object], list] | None:
    """A function evaluating `expression` on a resource (or element) as FHIRPath does, or None."""
    try:
        tokens = _tokens(expression)
        parser = _Parser(tokens)
        evaluate = parser.expression()
        if parser.position != len(tokens):
            raise _Unsupported(expression)
    except _Unsupported:
        return None
    return lambda node: evaluate([node])


def _tokens(expression: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = _TOKEN.match(expression, position)
        if match is None:
            raise _Unsupported(expression)
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    """expression := comparison (('and' | 'or') comparison)*; comparison := path (('=' | '!=') literal)?"""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, value: str | None = None, kind: str | None = None) -> str:
        token = self._peek()
        if token is None or (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            raise _Unsupported(f"expected {value or kind} at {self.position}")
        self.position += 1
        return token[1]

    def expression(self) -> Evaluator:
        left = self._comparison()
        while (token := self._peek()) in (("name", "and"), ("name", "or")):
            self.position += 1
            right = self._comparison()
            left = _logic(left, right, decisive=token[1] == "or")
        return left

    def _comparison(self) -> Evaluator:
        path = self._path()
        token = self._peek()
        if token is not None and token[1] in ("=", "!="):
            self.position += 1
            literal = self._literal()
            return _equals(path, literal, negate=token[1] == "!=")
        return path

    def _literal(self):
        kind, value = self._peek() or (None, None)
        if kind == "string":
            self.position += 1
            return value[1:-1].replace("\\'", "'")
        if kind == "number":
            self.position += 1
            return int(value)
        raise _Unsupported("a literal was expected")

    def _path(self) -> Evaluator:
        steps = [self._step()]
        while self._peek() == ("op", "."):
            self.position += 1
            steps.append(self._step())
        return _chain(steps)

    def _step(self) -> Evaluator:
        name = self._take(kind="name")
        if name in _KEYWORDS:
            raise _Unsupported(name)
        if self._peek() != ("op", "("):
            return _child(name)
        if name not in _FUNCTIONS:
            raise _Unsupported(name)
        self._take("(")
        if name == "where":
            condition = self.expression()
            self._take(")")
            return _where(condition)
        self._take(")")
        return {"exists": _exists, "empty": _empty, "count": _count}[name]


def _chain(steps: list[Evaluator]) -> Evaluator:
    def evaluate(focus: Collection) -> Collection:
        for step in steps:
            focus = step(focus)
        return focus
    return evaluate


def _child(name: str) -> Evaluator:
    def evaluate(focus: Collection) -> Collection:
        found = []
        for node in focus:
            if isinstance(node, dict) and name in node:
                value = node[name]
                if isinstance(value, list):
                    found.extend(v for v in value if v is not None)
                elif value is not None:
                    found.append(value)
        return found
    return evaluate


def _where(condition: Evaluator) -> Evaluator:
    return lambda focus: [node for node in focus if condition([node]) == [True]]


def _exists(focus: Collection) -> Collection:
    return [bool(focus)]


def _empty(focus: Collection) -> Collection:
    return [not focus]


def _count(focus: Collection) -> Collection:
    return [len(focus)]


def _equals(path: Evaluator, literal, *, negate: bool) -> Evaluator:
    def evaluate(focus: Collection) -> Collection:
        values = path(focus)
        if not values:
            return []
        if len(values) != 1:  # a collection equals a single literal only when it has one item
            return [negate]
        value = values[0]
        same = value == literal and isinstance(value, bool) == isinstance(literal, bool)
        return [same != negate]
    return evaluate


def _truth(values: Collection) -> bool | None:
    """A singleton's boolean, None for empty (FHIRPath's three-valued logic)."""
    if not values:
        return None
    if len(values) == 1 and isinstance(values[0], bool):
        return values[0]
    return True  # a non-empty, non-boolean singleton evaluates as true


def _logic(left: Evaluator, right: Evaluator, *, decisive: bool) -> Evaluator:
    """`and` (decisive False) or `or` (decisive True): either side decisive decides, else empty
    stays empty (three-valued logic), else the other value."""
    def evaluate(focus: Collection) -> Collection:
        a, b = _truth(left(focus)), _truth(right(focus))
        if a is decisive or b is decisive:
            return [decisive]
        if a is None or b is None:
            return []
        return [not decisive]
    return evaluate
