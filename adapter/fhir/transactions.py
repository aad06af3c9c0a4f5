"""`POST /fhir` with a transaction Bundle (all or nothing) or a batch Bundle (each entry alone)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from adapter.errors import AdapterError, Issue, MalformedRequest, NotSupported
from adapter.fhir import bundles, service
from adapter.fhir.outcome import operation_outcome

_URL = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)(?:/(?P<id>[A-Za-z0-9\-.]{1,64}))?(?:\?(?P<query>.*))?$")
_METHOD_ORDER = {"POST": 0, "PUT": 1, "GET": 2}
MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    query: str | None
    resource: dict | None
    full_url: str | None
    if_none_exist: str | None
    if_match: int | None


def _relative(url: str, base_url: str) -> str:
    return url[len(base_url) + 1:] if url.startswith(base_url + "/") else url


def _parse_entries(bundle: dict, base_url: str) -> list[_Entry]:
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise MalformedRequest.simple("Bundle.entry must be an array", expression="Bundle.entry")
    if len(raw_entries) > MAX_ENTRIES:
        raise MalformedRequest.simple(f"at most {MAX_ENTRIES} entries per Bundle", code="too-costly", expression="Bundle.entry")
    entries = []
    for index, raw in enumerate(raw_entries):
        where = f"Bundle.entry[{index}]"
        request = raw.get("request") if isinstance(raw, dict) else None
        if not isinstance(request, dict):
            raise MalformedRequest.simple("every entry needs a request", expression=f"{where}.request")
        method = request.get("method")
        if method not in _METHOD_ORDER:
            raise NotSupported.simple(f"entry method {method!r} is not supported (POST, PUT, GET)", expression=f"{where}.request.method")
        match = _URL.match(_relative(str(request.get("url", "")), base_url))
        if not match:
            raise MalformedRequest.simple("request.url must be '<Type>', '<Type>/<id>' or '<Type>?<criteria>'", expression=f"{where}.request.url")
        if_match = request.get("ifMatch")
        entries.append(
            _Entry(
                index=index,
                method=method,
                resource_type=match["type"],
                resource_id=match["id"],
                query=match["query"],
                resource=raw.get("resource"),
                full_url=raw.get("fullUrl"),
                if_none_exist=request.get("ifNoneExist"),
                if_match=_version_of(if_match, f"{where}.request.ifMatch") if if_match else None,
            )
        )
        if method in ("POST", "PUT") and not isinstance(raw.get("resource"), dict):
            raise MalformedRequest.simple(f"a {method} entry needs a resource", expression=f"{where}.resource")
    return entries


def _version_of(etag: str, expression: str) -> int:
    match = re.fullmatch(r'(?:W/)?"?(\d+)"?', str(etag).strip())
    if not match:
        raise MalformedRequest.simple("an ETag is W/\"<version>\"", expression=expression)
    return int(match[1])


def rewrite_references(node, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in mapping:
            node["reference"] = mapping[ref]
        for value in node.values():
            rewrite_references(value, mapping)
    elif isinstance(node, list):
        for item in node:
            rewrite_references(item, mapping)


def _prefixed(error: AdapterError, index: int) -> AdapterError:
    """The same error with expressions pointing into the Bundle entry."""
    def fix(expression: str | None) -> str | None:
        if expression is None:
            return f"Bundle.entry[{index}]"
        head, _, rest = expression.partition(".")
        if head[:1].isupper():  # "Organization.identifier" -> "Bundle.entry[i].resource.identifier"
            return f"Bundle.entry[{index}].resource" + (f".{rest}" if rest else "")
        return f"Bundle.entry[{index}].{expression}"

    error.issues = [replace(i, expression=fix(i.expression)) for i in error.issues]
    return error


def _execute(ctx, entry: _Entry, *, pending: set[str], preassigned: dict[int, str]) -> tuple[object, str]:
    """Run one entry; return (stored, status text)."""
    if entry.method == "GET":
        if entry.resource_id is None:
            raise NotSupported.simple("searches inside a Bundle are not supported; search directly")
        return service.read(ctx, resource_type=entry.resource_type, resource_id=entry.resource_id), "200 OK"
    if entry.method == "POST":
        if entry.resource_id:
            raise MalformedRequest.simple("a POST entry's url is the type alone", expression="request.url")
        stored, created = service.create(
            ctx,
            resource=entry.resource,
            expected_type=entry.resource_type,
            if_none_exist=None,
            resource_id=preassigned.get(entry.index),
            pending=pending,
        )
        return stored, "201 Created" if created else "200 OK"
    if entry.query is not None and entry.resource_id is None:
        stored, created = service.conditional_update(ctx, resource_type=entry.resource_type, criteria=entry.query, resource=entry.resource)
    else:
        stored, created = service.update(
            ctx,
            resource_type=entry.resource_type,
            resource_id=entry.resource_id or "",
            resource=entry.resource,
            if_match=entry.if_match,
            pending=pending,
        )
    return stored, "201 Created" if created else "200 OK"


def process_transaction(ctx, *, bundle: dict) -> str:
    """All entries or none: any failure raises (the caller rolls back); returns the response Bundle."""
    base = ctx.config.fhir_base_url
    entries = _parse_entries(bundle, base)
    mapping: dict[str, str] = {}
    preassigned: dict[int, str] = {}
    existing: dict[int, object] = {}
    for entry in entries:
        if entry.method != "POST" or not isinstance(entry.resource, dict):
            continue
        if entry.if_none_exist:
            try:
                matches = service.find_by_criteria(ctx, resource_type=entry.resource_type, criteria=entry.if_none_exist)
            except AdapterError as exc:
                raise _prefixed(exc, entry.index) from None
            if len(matches) > 1:
                raise _prefixed(
                    AdapterError(Issue("multiple-matches", "ifNoneExist matches more than one resource", "request.ifNoneExist")),
                    entry.index,
                ) from None
            if matches:
                existing[entry.index] = service.read(ctx, resource_type=entry.resource_type, resource_id=matches[0])
                if entry.full_url:
                    mapping[entry.full_url] = f"{entry.resource_type}/{matches[0]}"
                continue
        preassigned[entry.index] = service.new_id()
        if entry.full_url:
            mapping[entry.full_url] = f"{entry.resource_type}/{preassigned[entry.index]}"
    pending = {f"{e.resource_type}/{preassigned[e.index]}" for e in entries if e.index in preassigned}
    for entry in entries:
        rewrite_references(entry.resource, mapping)
    results: dict[int, str] = {}
    for entry in sorted(entries, key=lambda e: (_METHOD_ORDER[e.method], e.index)):
        if entry.index in existing:
            results[entry.index] = bundles.write_response_entry(existing[entry.index], base_url=base, status="200 OK")
            continue
        try:
            stored, status = _execute(ctx, entry, pending=pending, preassigned=preassigned)
        except AdapterError as exc:
            raise _prefixed(exc, entry.index) from None
        results[entry.index] = bundles.write_response_entry(stored, base_url=base, status=status)
    return bundles.response_bundle("transaction-response", [results[i] for i in sorted(results)])


def process_batch(ctx, *, bundle: dict, status_of) -> str:
    """Each entry in a savepoint of its own; failures are reported per entry."""
    base = ctx.config.fhir_base_url
    entries = _parse_entries(bundle, base)
    results = []
    for entry in entries:
        try:
            with ctx.session.begin_nested():
                if entry.method == "POST" and entry.if_none_exist:
                    stored, created = service.create(
                        ctx, resource=entry.resource, expected_type=entry.resource_type, if_none_exist=entry.if_none_exist
                    )
                    status = "201 Created" if created else "200 OK"
                else:
                    stored, status = _execute(ctx, entry, pending=set(), preassigned={})
            results.append(bundles.write_response_entry(stored, base_url=base, status=status))
        except AdapterError as exc:
            results.append(bundles.error_response_entry(status_of(exc), operation_outcome(_prefixed(exc, entry.index).issues)))
    return bundles.response_bundle("batch-response", results)
