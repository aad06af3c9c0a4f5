"""The one place where errors become HTTP: every error response is an OperationOutcome."""

from __future__ import annotations

import json
import logging
import uuid

from flask import Flask, Response, g
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from adapter import errors
from adapter.errors import Issue
from adapter.fhir.outcome import operation_outcome

log = logging.getLogger("adapter.http")

FHIR_JSON = "application/fhir+json; charset=utf-8"

STATUS_BY_ERROR: dict[type, int] = {
    errors.MalformedRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.NotSupported: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.NotAcceptable: 406,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.UnprocessableResource: 422,
    errors.PreconditionRequired: 428,
}
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed", 413: "Payload Too Large",
            406: "Not Acceptable", 415: "Unsupported Media Type", 422: "Unprocessable Entity", 428: "Precondition Required",
            500: "Internal Server Error"}


def status_of(error: errors.AdapterError) -> int:
    """The HTTP status of a domain error (the most specific class wins)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def status_text(error: errors.AdapterError) -> str:
    """`"422 Unprocessable Entity"` for Bundle response entries."""
    status = status_of(error)
    return f"{status} {_REASONS.get(status, '')}".strip()


def outcome_response(issues: list[Issue], status: int, headers: dict | None = None) -> Response:
    """An OperationOutcome response."""
    body = json.dumps(operation_outcome(issues), ensure_ascii=False)
    return Response(body, status=status, content_type=FHIR_JSON, headers=headers or {})


def _audit_refusal(error: errors.AdapterError) -> None:
    """A refused request on patient data is audited in a transaction of its own (never fails the response)."""
    from adapter.audit.http import after_refusal

    try:
        after_refusal(error)
    except Exception as exc:  # the refusal is answered even if auditing it failed; the failure is logged
        log.error("auditing a refused request failed: %s", type(exc).__name__)


def _field_issues(data) -> list[Issue]:
    """Webargs' per-field messages (the admin API) as issues with their expressions."""
    messages = (data or {}).get("messages") if isinstance(data, dict) else None
    issues = []
    for location, fields in (messages or {}).items():
        for name, texts in (fields or {}).items() if isinstance(fields, dict) else []:
            text = "; ".join(str(t) for t in texts) if isinstance(texts, list) else str(texts)
            issues.append(Issue("invalid", text, f"{location}.{name}"))
    return issues


def register_error_handlers(app: Flask) -> None:
    """Map domain errors, HTTP errors and bugs to OperationOutcomes."""

    @app.errorhandler(errors.AdapterError)
    def _domain(error: errors.AdapterError):
        _audit_refusal(error)
        g.mc_refused_rules = [i.rule for i in error.issues if i.rule]  # counted by rule (adapter/ops/metrics.py)
        headers = {}
        if isinstance(error, errors.Unauthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="mc-adapter"'
        if isinstance(error, errors.NotSupported):
            headers["Allow"] = ", ".join(getattr(error, "allow", ()))  # RFC 9110: a 405 always says what is allowed
        return outcome_response(error.issues, status_of(error), headers)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError):
        # A concurrent writer took the same unique identifier or id between our check and insert.
        log.info("integrity conflict: %s", type(error.orig).__name__)
        return outcome_response([Issue("conflict", "a concurrent request stored a conflicting resource; retry")], 409)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        code = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}.get(error.code, "processing")
        valid = getattr(error, "valid_methods", None)
        headers = {"Allow": ", ".join(valid)} if valid else {}
        issues = _field_issues(getattr(error, "data", None)) or [Issue(code, error.description or error.name)]
        return outcome_response(issues, error.code or 500, headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DisconnectionError)
    def _database_unavailable(error: OperationalError | DisconnectionError):
        log.error("database error: %s", type(getattr(error, "orig", error)).__name__)
        return outcome_response([Issue("transient", "the database is unavailable; retry later")], 503)

    @app.errorhandler(Exception)
    def _bug(error: Exception):
        incident = uuid.uuid4().hex[:12]
        # The exception text may quote patient data from the request: log its type only.
        log.error("unhandled %s (incident %s)", type(error).__name__, incident, exc_info=app.debug)
        return outcome_response([Issue("exception", f"internal error, incident {incident}")], 500)
