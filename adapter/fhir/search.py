"""Search: parameters parsed and checked, then answered from the index tables.

Every filter is an indexed lookup (`search_token`, `search_reference`, or the resource table's
(type, last_updated, id) index); pages are keyset-paged with a signed cursor, so a deep page
costs what the first one does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from adapter.db import as_utc
from adapter.errors import Issue, MalformedRequest
from adapter.fhir import access, dates, store
from adapter.fhir.models import DateIndex, ReferenceIndex, ResourceRow, TokenIndex
from adapter.fhir.registry import COMMON_SEARCH_PARAMS, RESULT_PARAMS, SORT_KEYS, ResourceDefinition, SearchParam
from adapter.fhir.store import Stored
from adapter.fhir.validation import has_control_characters, parse_reference
from adapter.identifiers import InvalidIdentifier, normalise

MAX_VALUE_LENGTH = 255
# `Bundle.total` is counted exactly up to this many matches; beyond it the count would cost more
# than the page, so `total` is left out and an outcome says so (README, "Searching").
MAX_TOTAL = 10_000
MAX_VALUES_PER_PARAM = 50
_ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE_PATTERN = re.compile(r"^(?P<prefix>eq|gt|lt|ge|le)?(?P<value>\d.*)$")


@dataclass
class SearchRequest:
    """A parsed search: the filters, the page wanted, and what was ignored."""

    definition: ResourceDefinition
    conditions: list = field(default_factory=list)
    count: int = 50
    sort: str = "_lastUpdated"
    includes: list[SearchParam] = field(default_factory=list)
    after: list | None = None  # keyset position from the cursor
    honoured: list[tuple[str, str]] = field(default_factory=list)  # for the self/next links
    ignored: list[str] = field(default_factory=list)
    cursor: str | None = None  # the `_cursor` this page was asked with (it belongs in `self`)
    total: str = "estimate"  # `_total`: none, estimate (exact when free), accurate (counted)
    summary_count: bool = False  # `_summary=count`: the total only

    @property
    def wants_count(self) -> bool:
        """Whether the total must be counted (not only given when it is free)."""
        return self.summary_count or self.count == 0 or self.total == "accurate"


@dataclass
class SearchPage:
    """One page of results."""

    matches: list[Stored]
    included: list[Stored]
    next_cursor: str | None
    total: int | None = None
    notes: list[str] = field(default_factory=list)  # warnings for the outcome entry


class CursorCodec:
    """Opaque, signed keyset cursors: a client cannot forge a position."""

    def __init__(self, key: bytes):
        self._key = key

    def encode(self, payload: dict) -> str:
        """Sign and encode a cursor payload."""
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._signature(body)}"

    def decode(self, cursor: str) -> dict:
        """Verify and decode; a tampered or foreign cursor is a 400."""
        body, _, signature = cursor.partition(".")
        if not body or not hmac.compare_digest(signature, self._signature(body)):
            raise MalformedRequest.simple("the paging cursor is invalid or was altered", expression="_cursor")
        try:
            return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            raise MalformedRequest.simple("the paging cursor is invalid", expression="_cursor") from None

    def _signature(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()


def _bad(message: str, name: str) -> MalformedRequest:
    return MalformedRequest(Issue(code="invalid", diagnostics=message, expression=name))


_COUNT = re.compile(r"[0-9]{1,9}")


def parse_count(raw: str, name: str = "_count", *, minimum: int = 0) -> int:
    """A `_count`-style whole number: ASCII digits only (`str.isdigit` accepts '²', which `int` refuses)."""
    if not _COUNT.fullmatch(raw) or int(raw) < minimum:
        raise _bad(f"{name} must be a whole number of at least {minimum}", name)
    return int(raw)


def _split_values(name: str, raw: str) -> list[str]:
    values = [v for v in raw.split(",")]
    if len(values) > MAX_VALUES_PER_PARAM:
        raise _bad(f"at most {MAX_VALUES_PER_PARAM} values per parameter", name)
    for value in values:
        if not value or len(value) > MAX_VALUE_LENGTH:
            raise _bad(f"each value of {name} must have 1 to {MAX_VALUE_LENGTH} characters", name)
        if has_control_characters(value):
            raise _bad(f"control characters are not allowed in {name}", name)
    return values


def _token_condition(definition: ResourceDefinition, param: SearchParam, raw: str):
    alternatives = []
    for value in _split_values(param.name, raw):
        system, sep, code = value.partition("|")
        if not sep:
            system, code = None, value
        if system:
            try:
                system, normalised = normalise(system, code or None)
                code = normalised if code else code
            except InvalidIdentifier:
                pass  # a malformed identifier simply matches nothing
        clause = [TokenIndex.system == (system or "")] if system is not None else []
        if code:
            clause.append(TokenIndex.value == code)
        if not clause:
            raise _bad(f"'{value}' names neither a system nor a code", param.name)
        alternatives.append(and_(*clause))
    return ResourceRow.id.in_(
        select(TokenIndex.resource_id).where(
            TokenIndex.resource_type == definition.name, TokenIndex.param == param.name, or_(*alternatives)
        )
    )


def _reference_condition(definition: ResourceDefinition, param: SearchParam, raw: str, base_url: str):
    alternatives = []
    for value in _split_values(param.name, raw):
        parsed = parse_reference(value)
        if parsed is not None:
            ref_base, target_type, target_id = parsed
            if ref_base is not None and ref_base.rstrip("/") != base_url:
                raise _bad(f"'{value}' refers to another server", param.name)
            if param.targets and target_type not in param.targets:
                raise _bad(f"{param.name} refers to {', '.join(param.targets)}, not {target_type}", param.name)
            alternatives.append(and_(ReferenceIndex.target_type == target_type, ReferenceIndex.target_id == target_id))
        elif _ID_PATTERN.match(value):
            alternatives.append(ReferenceIndex.target_id == value)
        else:
            raise _bad(f"'{value}' is neither a reference nor an id", param.name)
    return ResourceRow.id.in_(
        select(ReferenceIndex.resource_id).where(
            ReferenceIndex.resource_type == definition.name, ReferenceIndex.param == param.name, or_(*alternatives)
        )
    )


def _date_range(name: str, raw: str) -> tuple[str, datetime, datetime]:
    """(prefix, start, end) of a date search value in UTC; end is exclusive."""
    match = _DATE_PATTERN.match(raw)
    if not match:
        raise _bad(f"'{raw}' is not a date search value (e.g. ge2026-01-31 or lt2026-01-31T12:00:00Z)", name)
    try:
        start, end = dates.period(match["value"])
    except ValueError:
        raise _bad(f"'{raw}' is not a valid date", name) from None
    return match["prefix"] or "eq", start, end


def _range_condition(prefix: str, start: datetime, end: datetime, low, high):
    """Rows whose period [low, high) satisfies the prefix against [start, end) (FHIR date semantics)."""
    return {
        "eq": and_(low >= start, high <= end),
        "gt": high > end,
        "ge": high > start,
        "lt": low < start,
        "le": low < end,
    }[prefix]


def _date_condition(definition: ResourceDefinition, param: SearchParam, raw: str):
    prefix, start, end = _date_range(param.name, raw)
    return ResourceRow.id.in_(
        select(DateIndex.resource_id).where(
            DateIndex.resource_type == definition.name, DateIndex.param == param.name,
            _range_condition(prefix, start, end, DateIndex.start, DateIndex.end),
        )
    )


def _last_updated_condition(raw: str):
    prefix, start, end = _date_range("_lastUpdated", raw)
    column = ResourceRow.last_updated
    return {
        "eq": and_(column >= start, column < end),
        "gt": column >= end,
        "ge": column >= start,
        "lt": column < start,
        "le": column < end,
    }[prefix]


def parse_search(
    definition: ResourceDefinition,
    params: list[tuple[str, str]],
    *,
    strict: bool,
    base_url: str,
    default_count: int,
    max_count: int,
    cursors: CursorCodec | None,
) -> SearchRequest:
    """Check every parameter and turn it into a condition; unknown ones: 400 if strict, else ignored."""
    request = SearchRequest(definition=definition, count=default_count)
    for name, raw in params:
        if "." in name:
            raise _chain_refused(definition, name)
        base_name, _, modifier = name.partition(":")
        if base_name in RESULT_PARAMS or base_name in COMMON_SEARCH_PARAMS or base_name in definition.search_params:
            param = definition.search_params.get(base_name)
            identifier_modifier = modifier == "identifier" and param is not None and param.type == "reference"
            if modifier and base_name != "_include" and not identifier_modifier:
                raise _bad(f"the modifier ':{modifier}' is not supported on {base_name}", name)
        else:
            if strict:
                raise MalformedRequest(
                    Issue(code="not-supported", diagnostics=f"unknown search parameter '{name}'", expression=name)
                )
            request.ignored.append(name)
            continue
        if base_name == "_include":
            if not _add_includes(request, raw, strict=strict):
                continue
        else:
            _apply(request, name if modifier == "identifier" else base_name, raw, strict=strict, base_url=base_url,
                   max_count=max_count, cursors=cursors)
        if base_name == "_cursor":
            request.cursor = raw
        else:
            request.honoured.append((name, raw))
    return request


def _chain_refused(definition: ResourceDefinition, name: str) -> MalformedRequest:
    """Chained search is refused, never ignored: ignoring it would widen the search to everything."""
    head = name.split(".", 1)[0].split(":", 1)[0]
    return MalformedRequest(Issue(
        code="not-supported", expression=name,
        diagnostics=f"chained search ('{name}') is not supported; search the referenced type first and pass its ids, "
                    f"e.g. {definition.name}?{head}=<Type>/<id>,<Type>/<id>"))


def _add_includes(request: SearchRequest, raw: str, *, strict: bool) -> bool:
    """Add the `_include` parameters `raw` names; False when lenient handling ignored it."""
    try:
        request.includes.extend(p for p in include_params(request.definition, raw) if p not in request.includes)
    except MalformedRequest:
        if strict:
            raise
        request.ignored.append(f"_include={raw}")
        return False
    return True


def _apply(request: SearchRequest, name: str, raw: str, *, strict: bool, base_url: str, max_count: int, cursors) -> None:
    definition = request.definition
    if name == "_id":
        ids = _split_values(name, raw)
        if not all(_ID_PATTERN.match(i) for i in ids):
            raise _bad("an id has 1 to 64 letters, digits, '-' or '.'", name)
        request.conditions.append(ResourceRow.id.in_(ids))
    elif name == "_lastUpdated":
        request.conditions.append(_last_updated_condition(raw))
    elif name == "_count":
        request.count = min(parse_count(raw, name), max_count)
    elif name == "_sort":
        if raw not in SORT_KEYS:
            raise _bad(f"_sort supports {', '.join(SORT_KEYS)}", name)
        request.sort = raw
    elif name == "_cursor":
        if cursors is None:
            raise _bad("paging cursors are not available here", name)
        payload = cursors.decode(raw)
        if payload.get("t") != definition.name or not isinstance(payload.get("k"), list):
            raise _bad("the paging cursor belongs to another search", name)
        request.after = payload["k"]
        request.sort = payload.get("s", request.sort)
    elif name == "_format":
        pass  # negotiated for every request before it reaches a view (406 for what is not served)
    elif name == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise _bad("_total is none, estimate or accurate", name)
        request.total = raw
    elif name == "_summary":
        if raw == "count":
            request.summary_count = True
        elif raw != "false":
            raise MalformedRequest(Issue(code="not-supported", expression=name,
                                         diagnostics="_summary supports count and false (resources are served whole)"))
    elif name.endswith(":identifier"):
        # The identifiers of logical references are indexed as tokens under "<param>:identifier".
        param = definition.search_params[name.removesuffix(":identifier")]
        request.conditions.append(_token_condition(definition, SearchParam(name, "token", param.paths, param.description), raw))
    else:
        param = definition.search_params[name]
        if param.type == "token":
            request.conditions.append(_token_condition(definition, param, raw))
        elif param.type == "date":
            request.conditions.append(_date_condition(definition, param, raw))
        else:
            request.conditions.append(_reference_condition(definition, param, raw, base_url))


def include_params(definition: ResourceDefinition, raw: str) -> list[SearchParam]:
    """The reference parameters an `_include` value names.

    Accepted: `Type:param[:Target]`, the R4 element name where it names one parameter unambiguously
    (`HealthcareService:providedBy` for `organization`, as fhirclient sends it), and `*` or `Type:*`
    for every reference parameter.
    """
    references = [p for p in definition.search_params.values() if p.type == "reference"]
    if raw in ("*", f"{definition.name}:*"):
        return references
    source, _, rest = raw.partition(":")
    param_name, _, target = rest.partition(":")
    param = definition.search_params.get(param_name) or _element_alias(references, definition.name, param_name)
    if source != definition.name or param is None or param.type != "reference":
        allowed = ", ".join(definition.includes) or "none"
        raise MalformedRequest(Issue(code="not-supported", expression="_include",
                                     diagnostics=f"_include '{raw}' is not supported (supported: {allowed}, or *)"))
    if target and param.targets and target not in param.targets:
        raise _bad(f"_include '{raw}' names a target type the parameter cannot refer to", "_include")
    return [param]


def _element_alias(references: list[SearchParam], type_name: str, element: str) -> SearchParam | None:
    """The one reference parameter whose path is `Type.element`, if exactly one is."""
    if not element:
        return None
    found = [p for p in references if f"{type_name}.{element}" in p.paths]
    return found[0] if len(found) == 1 else None


def _order_and_position(request: SearchRequest):
    descending = request.sort.startswith("-")
    by_time = request.sort.lstrip("-") == "_lastUpdated"
    columns = (ResourceRow.last_updated, ResourceRow.id) if by_time else (ResourceRow.id,)
    order = [c.desc() if descending else c.asc() for c in columns]
    position = None
    if request.after is not None:
        try:
            if by_time:
                when = datetime.fromisoformat(request.after[0])
                key_id = request.after[1]
                later = (ResourceRow.last_updated < when) if descending else (ResourceRow.last_updated > when)
                same = and_(ResourceRow.last_updated == when, (ResourceRow.id < key_id) if descending else (ResourceRow.id > key_id))
                position = or_(later, same)
            else:
                key_id = request.after[0]
                position = (ResourceRow.id < key_id) if descending else (ResourceRow.id > key_id)
        except (ValueError, IndexError, TypeError):
            raise _bad("the paging cursor is invalid", "_cursor") from None
    return order, position, by_time


def run_search(ctx, request: SearchRequest, *, cursors: CursorCodec | None) -> SearchPage:
    """Fetch one page (and its includes) for a parsed search.

    What the caller may not see is filtered in the query itself, so pages are full, and neither
    `next` links nor counts tell anything about hidden resources.
    """
    definition = request.definition
    conditions = [ResourceRow.resource_type == definition.name, *request.conditions]
    visible = access.condition(ctx, definition)
    if visible is not None:
        conditions.append(visible)
    if request.wants_count:
        total, notes = count_matches(ctx.session, conditions)
        if request.count == 0 or request.summary_count:
            return SearchPage([], [], None, total, notes)
    order, position, by_time = _order_and_position(request)
    if position is not None:
        conditions.append(position)
    rows = ctx.session.execute(
        select(ResourceRow).where(*conditions).order_by(*order).limit(request.count + 1)
    ).scalars().all()
    page = [Stored.of(r) for r in rows[: request.count]]
    next_cursor = None
    if len(rows) > request.count and cursors is not None:
        last = page[-1]
        key = [as_utc(last.last_updated).isoformat(), last.id] if by_time else [last.id]
        next_cursor = cursors.encode({"t": definition.name, "s": request.sort, "k": key})
    included = _load_includes(ctx, definition, request.includes, [m.id for m in page])
    result = SearchPage(page, included, next_cursor)
    if request.wants_count:
        result.total, result.notes = total, notes
    elif request.total != "none" and request.after is None and next_cursor is None:
        result.total = len(page)  # the whole result is this one page: exact, and free
    return result


def count_matches(session, conditions: list, *, column=ResourceRow.id, what: str = "resources") -> tuple[int | None, list[str]]:
    """The exact number of rows matching `conditions`, counted up to MAX_TOTAL (None, and a note, beyond it)."""
    limited = select(column).where(*conditions).limit(MAX_TOTAL + 1).subquery()
    found = session.execute(select(func.count()).select_from(limited)).scalar_one()
    if found > MAX_TOTAL:
        return None, [f"more than {MAX_TOTAL} {what} match: total is left out (narrow the search to count)"]
    return found, []


def _load_includes(ctx, definition: ResourceDefinition, includes: list[SearchParam], ids: list[str]) -> list[Stored]:
    """The resources the page's matches refer to, as far as the caller may see them, each once."""
    if not includes or not ids:
        return []
    targets = ctx.session.execute(
        select(ReferenceIndex.target_type, ReferenceIndex.target_id).where(
            ReferenceIndex.resource_type == definition.name,
            ReferenceIndex.resource_id.in_(ids),
            ReferenceIndex.param.in_([p.name for p in includes]),
        )
    ).all()
    return load_targets(ctx, [f"{t}/{i}" for t, i in targets], exclude={f"{definition.name}/{i}" for i in ids})


def load_targets(ctx, references, *, exclude: set[str] = frozenset()) -> list[Stored]:
    """The resources `references` ("Type/id") name, as far as the caller may see them, each once.

    `exclude` holds what the page already has as matches (bdl-7: one entry per fullUrl).
    """
    by_type: dict[str, set[str]] = {}
    for reference in set(references) - set(exclude):
        target_type, _, target_id = reference.partition("/")
        if target_id:
            by_type.setdefault(target_type, set()).add(target_id)
    included: list[Stored] = []
    for target_type, target_ids in sorted(by_type.items()):
        target_definition = ctx.registry.resource(target_type)
        if target_definition is None:
            continue
        shown = access.visible_ids(ctx, target_definition, target_ids)
        found = store.load_many(ctx.session, resource_type=target_type, ids=sorted(shown))
        included.extend(found[i] for i in sorted(found))
    return included


def search_ids(ctx, *, definition: ResourceDefinition, params: list[tuple[str, str]], limit: int) -> list[str]:
    """Ids matching strict criteria (conditional create and update)."""
    request = parse_search(
        definition, params, strict=True, base_url=ctx.config.fhir_base_url,
        default_count=limit, max_count=limit, cursors=None,
    )
    conditions = [ResourceRow.resource_type == definition.name, *request.conditions]
    visible = access.condition(ctx, definition)
    if visible is not None:
        conditions.append(visible)  # a hidden resource neither matches nor counts
    return list(ctx.session.execute(select(ResourceRow.id).where(*conditions).limit(limit)).scalars())
