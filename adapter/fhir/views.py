"""HTTP views of the FHIR REST base (`/fhir`). Thin: parse, call a service, commit, respond."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from adapter.audit import http as audit
from adapter.auth.http import authenticate, require_scope, token_endpoint
from adapter.db import snapshot_reads, write_intent
from adapter.errors import MalformedRequest, NotFound, UnsupportedMediaType
from adapter.fhir import bundles, service, transactions
from adapter.fhir.capability import capability_statement
from adapter.fhir.outcome import information
from adapter.fhir.search import parse_count, parse_search, run_search
from adapter.fhir.store import Stored
from adapter.http.errors import FHIR_JSON, status_text
from adapter.http.requests import check_acceptable, if_match_version, prefers, read_fhir_json, refuse_oversized
from adapter.http.unit_of_work import commit, context, state

READ_METHODS = {"GET", "HEAD"}


def _json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return Response(text, status=status, content_type=FHIR_JSON, headers=headers or {})


def _minimal(status: int, headers: dict) -> Response:
    """A response with no body, and so no Content-Type (`Prefer: return=minimal`, 304)."""
    response = Response(status=status, headers=headers)
    del response.headers["Content-Type"]
    return response


def _resource_response(stored: Stored, status: int) -> Response:
    base = state().config.fhir_base_url
    headers = {"ETag": stored.etag, "Last-Modified": _http_date(stored.last_updated)}
    if status == 201:
        headers["Location"] = f"{base}/{stored.reference}/_history/{stored.version}"
    if prefers("return", "minimal"):
        return _minimal(status, headers)
    if prefers("return", "OperationOutcome"):
        return _json_response(information(f"{stored.reference} version {stored.version} stored"), status, headers)
    return _json_response(stored.content, status, headers)


def _http_date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _not_modified(stored: Stored) -> bool:
    """Conditional read: the client's copy (`If-None-Match`, else `If-Modified-Since`) is current."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        wanted = {t.strip().removeprefix("W/") for t in tags.split(",")}
        return "*" in wanted or f'"{stored.version}"' in wanted
    since = request.if_modified_since
    return since is not None and stored.last_updated.replace(microsecond=0) <= since


_INTERACTION_OF_ENDPOINT = {
    "fhir.search": "search", "fhir.search_post": "search", "fhir.read": "read", "fhir.vread": "vread", "fhir.history": "history",
    "fhir.create": "create", "fhir.update": "update", "fhir.conditional_update": "update", "fhir.patch": "patch",
    "fhir.delete": "update", "fhir.operation": "operation", "fhir.type_operation": "operation",
}
_READS = {"fhir.search_post", "fhir.type_operation"}  # POSTs that change nothing


def _before_request() -> None:
    write_intent.set(request.method not in READ_METHODS and request.endpoint not in _READS)
    check_acceptable()
    authenticate()
    interaction = _INTERACTION_OF_ENDPOINT.get(request.endpoint)
    if interaction is not None:  # scopes are checked here, for every FHIR interaction (Bundles: per entry)
        definition = state().registry.resource(request.view_args["resource_type"])
        if definition is None or not definition.any_scope:
            require_scope(request.view_args["resource_type"], interaction)


def _metadata():
    app_state = state()
    statement = capability_statement(
        app_state.registry, base_url=app_state.config.fhir_base_url,
        software_date=datetime.now(timezone.utc).date().isoformat(), token_endpoint=token_endpoint(),
    )
    return _json_response(statement)


def _bundle():
    ctx = context()
    bundle = read_fhir_json()
    ctx.validator.check_resource_type(bundle, "Bundle")
    for entry in bundle.get("entry") or []:
        request_part = entry.get("request") if isinstance(entry, dict) else None
        if isinstance(request_part, dict):
            method = {"GET": "read", "POST": "create", "PUT": "update"}.get(request_part.get("method"), "update")
            require_scope(str(request_part.get("url", "")).split("?")[0].split("/")[0], method)
    kind = bundle.get("type")
    if kind == "transaction":
        body = transactions.process_transaction(ctx, bundle=bundle)
    elif kind == "batch":
        body = transactions.process_batch(ctx, bundle=bundle, status_of=status_text)
    else:
        raise MalformedRequest.simple("POST /fhir takes a Bundle of type transaction or batch", expression="Bundle.type")
    audit.within_bundle(ctx, body)
    commit()
    return _json_response(body)


def _search_params() -> list[tuple[str, str]]:
    """The search's parameters: the query string, and for `POST _search` the form body too."""
    params = list(request.args.items(multi=True))
    if request.method == "POST":
        if request.mimetype != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType.simple("POST _search takes its parameters as application/x-www-form-urlencoded")
        refuse_oversized(state().config.max_body_bytes)
        params += list(request.form.items(multi=True))
    return params


def _search(resource_type: str):
    ctx = context()
    definition = service.definition_for(ctx, resource_type)
    service.require_interaction(definition, "search-type")
    app_state = state()
    cursors = app_state.cursors()
    params = _search_params()
    if definition.search_handler is not None:
        body, shown = definition.search_handler(ctx, params=params, strict=prefers("handling", "strict"), cursors=cursors)
        audit.after_read(resource_type, "search", [m.as_dict() for m in shown])
        return _json_response(body)
    search = parse_search(
        definition, params, strict=prefers("handling", "strict"),
        base_url=ctx.config.fhir_base_url, default_count=ctx.config.default_page_size,
        max_count=ctx.config.max_page_size, cursors=cursors,
    )
    page = run_search(ctx, search, cursors=cursors)
    audit.after_read(resource_type, "search", [m.as_dict() for m in page.matches + page.included])
    body = bundles.searchset(page, base_url=ctx.config.fhir_base_url, resource_type=resource_type,
                             honoured=search.honoured, cursor=search.cursor, ignored=search.ignored)
    return _json_response(body)


def _create(resource_type: str):
    ctx = context()
    definition = service.definition_for(ctx, resource_type)
    resource = read_fhir_json()
    snapshot = snapshot_reads.set(definition.reads_committed)
    try:
        stored, created = service.create(ctx, resource=resource, expected_type=resource_type, if_none_exist=_if_none_exist())
        # A conditional create that finds its match discloses it: a read, not a create.
        audit.within_write(ctx, resource_type, "create" if created else "read", [stored.as_dict()])
        commit()
    finally:
        snapshot_reads.reset(snapshot)
    return _resource_response(stored, 201 if created else 200)


def _if_none_exist() -> str | None:
    """Conditional create criteria: `If-None-Exist`, or the query string of the POST (as fhirpy's get_or_create sends them)."""
    header = request.headers.get("If-None-Exist")
    if header is not None:
        return header
    criteria = [(k, v) for k, v in request.args.items(multi=True) if k not in ("_format", "_pretty")]
    return urlencode(criteria) if criteria else None


def _conditional_update(resource_type: str):
    ctx = context()
    service.definition_for(ctx, resource_type)
    if not request.query_string:
        raise MalformedRequest.simple("PUT on a type needs search criteria (conditional update) or an id in the URL")
    resource = read_fhir_json()
    stored, created = service.conditional_update(
        ctx, resource_type=resource_type, criteria=request.query_string.decode("utf-8", "replace"), resource=resource
    )
    audit.within_write(ctx, resource_type, "update", [stored.as_dict()])
    commit()
    return _resource_response(stored, 201 if created else 200)


def _read(resource_type: str, resource_id: str):
    ctx = context()
    service.require_interaction(service.definition_for(ctx, resource_type), "read")
    stored = service.read(ctx, resource_type=resource_type, resource_id=resource_id)
    audit.after_read(resource_type, "read", [stored.as_dict()])
    if _not_modified(stored):
        return _minimal(304, {"ETag": stored.etag, "Last-Modified": _http_date(stored.last_updated)})
    return _resource_response(stored, 200)


def _update(resource_type: str, resource_id: str):
    ctx = context()
    service.definition_for(ctx, resource_type)
    resource = read_fhir_json()
    stored, created = service.update(
        ctx, resource_type=resource_type, resource_id=resource_id, resource=resource, if_match=if_match_version()
    )
    audit.within_write(ctx, resource_type, "update", [stored.as_dict()])
    commit()
    return _resource_response(stored, 201 if created else 200)


def _patch(resource_type: str, resource_id: str):
    ctx = context()
    service.definition_for(ctx, resource_type)
    operations = read_fhir_json({"application/json-patch+json"})
    stored, _ = service.patch(ctx, resource_type=resource_type, resource_id=resource_id, operations=operations,
                              if_match=if_match_version())
    audit.within_write(ctx, resource_type, "patch", [stored.as_dict()])
    commit()
    return _resource_response(stored, 200)


def _delete(resource_type: str, resource_id: str):
    service.refuse_delete(service.definition_for(context(), resource_type))


def _type_history(resource_type: str):
    service.definition_for(context(), resource_type)  # 404 for a type not served
    raise service.not_supported(
        f"the history of all {resource_type} resources is not served; read one resource's history at "
        f"{resource_type}/<id>/_history (or poll the inbox feed: Task?owner=...)", ())


def _system_history():
    raise service.not_supported("the history of the whole server is not served; read one resource's history at "
                                "<type>/<id>/_history", ())


def _history(resource_type: str, resource_id: str):
    ctx = context()
    count = parse_count(request.args.get("_count", "100"), minimum=1)
    versions = service.history(ctx, resource_type=resource_type, resource_id=resource_id,
                               count=min(count, ctx.config.max_page_size))
    audit.after_read(resource_type, "history", [v.as_dict() for v in versions])
    return _json_response(bundles.history(versions, base_url=ctx.config.fhir_base_url))


def _vread(resource_type: str, resource_id: str, version: str):
    stored = service.vread(context(), resource_type=resource_type, resource_id=resource_id, version=version)
    audit.after_read(resource_type, "vread", [stored.as_dict()])
    return _resource_response(stored, 200)


def _operation(resource_type: str, resource_id: str, operation: str):
    ctx = context()
    service.definition_for(ctx, resource_type)
    found = ctx.registry.operations.get((resource_type, operation.removeprefix("$")))
    if not operation.startswith("$") or found is None:
        raise NotFound.simple(f"{resource_type} has no operation '{operation}'", code="not-supported")
    if request.method == "GET":
        if not found.idempotent:
            raise service.not_supported(f"${found.name} changes state: POST it", ("POST",))
        parameters = {"resourceType": "Parameters",
                      "parameter": [{"name": name, "valueString": value} for name, value in request.args.items(multi=True)]}
    else:
        parameters = read_fhir_json()
    status, body = found.handler(ctx, resource_id, parameters)
    if audit.audited_type(resource_type):
        touched = service.read(ctx, resource_type=resource_type, resource_id=resource_id)
        audit.within_write(ctx, resource_type, "operation", [touched.as_dict()])
    commit()
    return _json_response(body, status)


def _type_operation(resource_type: str, operation: str):
    ctx = context()
    definition = service.definition_for(ctx, resource_type)
    found = ctx.registry.type_operations.get(operation)
    if found is None or (found.resource_types and resource_type not in found.resource_types):
        raise NotFound.simple(f"{resource_type} has no type operation '${operation}'", code="not-supported")
    status, body = found.handler(ctx, definition, read_fhir_json())
    return _json_response(body, status)


def _system_operation(operation: str):
    ctx = context()
    found = ctx.registry.system_operations.get(operation)
    if found is None:
        raise NotFound.simple(f"no system operation '${operation}'", code="not-supported")
    status, body, headers = found.handler(ctx, read_fhir_json(), request.args)
    commit()
    if not body:
        return Response(status=status, headers=headers)
    return _json_response(body, status, headers)


def fhir_blueprint() -> Blueprint:
    """The `/fhir` blueprint."""
    bp = Blueprint("fhir", __name__, url_prefix="/fhir")
    bp.before_request(_before_request)
    bp.add_url_rule("/metadata", "metadata", _metadata, methods=["GET"])
    bp.add_url_rule("/_history", "system_history", _system_history, methods=["GET"])
    bp.add_url_rule("", "bundle", _bundle, methods=["POST"])
    bp.add_url_rule("/", "bundle_slash", _bundle, methods=["POST"])
    bp.add_url_rule("/$<operation>", "system_operation", _system_operation, methods=["POST"])
    bp.add_url_rule("/<resource_type>", "search", _search, methods=["GET"])
    bp.add_url_rule("/<resource_type>/_search", "search_post", _search, methods=["POST"])
    bp.add_url_rule("/<resource_type>/_history", "type_history", _type_history, methods=["GET"])
    bp.add_url_rule("/<resource_type>/$<operation>", "type_operation", _type_operation, methods=["POST"])
    bp.add_url_rule("/<resource_type>", "create", _create, methods=["POST"])
    bp.add_url_rule("/<resource_type>", "conditional_update", _conditional_update, methods=["PUT"])
    bp.add_url_rule("/<resource_type>/<resource_id>", "read", _read, methods=["GET"])
    bp.add_url_rule("/<resource_type>/<resource_id>", "update", _update, methods=["PUT"])
    bp.add_url_rule("/<resource_type>/<resource_id>", "patch", _patch, methods=["PATCH"])
    bp.add_url_rule("/<resource_type>/<resource_id>", "delete", _delete, methods=["DELETE"])
    bp.add_url_rule("/<resource_type>/<resource_id>/_history", "history", _history, methods=["GET"])
    bp.add_url_rule("/<resource_type>/<resource_id>/_history/<version>", "vread", _vread, methods=["GET"])
    bp.add_url_rule("/<resource_type>/<resource_id>/<operation>", "operation", _operation, methods=["GET", "POST"])
    return bp
