"""Domain exceptions. They say what is wrong; `adapter/http/errors.py` maps them to HTTP.

Nothing here knows about Flask, SQLAlchemy or status codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem, shaped like an OperationOutcome.issue."""

    code: str  # OperationOutcome issue type, e.g. "invalid", "code-invalid", "business-rule"
    diagnostics: str
    expression: str | None = None
    severity: str = "error"
    rule: str | None = None  # MC-Rn when a rule of the routine is the reason
    text: str | None = None  # English details.text for rule violations


class AdapterError(Exception):
    """Base of every error a client can cause; carries one or more issues."""

    def __init__(self, *issues: Issue):
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.issues = list(issues)

    @classmethod
    def simple(cls, message: str, *, code: str | None = None, expression: str | None = None):
        """Build the error from one message."""
        return cls(Issue(code=code or cls.default_code, diagnostics=message, expression=expression))

    default_code = "processing"


class MalformedRequest(AdapterError):
    """The request cannot be parsed or has the wrong structure (HTTP 400)."""

    default_code = "structure"


class UnprocessableResource(AdapterError):
    """Well-formed but invalid: codes, reference targets, profile constraints (HTTP 422)."""

    default_code = "processing"


class RuleViolation(UnprocessableResource):
    """A rule of the regional routine forbids this (HTTP 422, cites MC-Rn)."""

    def __init__(self, rule: str, text: str, diagnostics_sv: str, expression: str | None = None):
        super().__init__(
            Issue(
                code="business-rule",
                diagnostics=diagnostics_sv,
                expression=expression,
                rule=rule,
                text=text,
            )
        )
        self.rule = rule


class NotFound(AdapterError):
    """Unknown, or not visible to the caller (HTTP 404)."""

    default_code = "not-found"


class Conflict(AdapterError):
    """Conflicts with what is stored (HTTP 409)."""

    default_code = "conflict"


class PreconditionFailed(AdapterError):
    """A version or conditional precondition does not hold (HTTP 412)."""

    default_code = "conflict"


class PreconditionRequired(AdapterError):
    """A required precondition header is missing (HTTP 428)."""

    default_code = "required"


class Unauthenticated(AdapterError):
    """No valid credentials (HTTP 401)."""

    default_code = "login"


class Forbidden(AdapterError):
    """An identified caller may not do this (HTTP 403)."""

    default_code = "forbidden"


class PayloadTooLarge(AdapterError):
    """The body exceeds the configured limit (HTTP 413)."""

    default_code = "too-costly"


class UnsupportedMediaType(AdapterError):
    """The body's media type is not accepted (HTTP 415)."""

    default_code = "not-supported"


class NotAcceptable(AdapterError):
    """The client accepts no format the adapter serves (HTTP 406)."""

    default_code = "not-supported"


class NotSupported(AdapterError):
    """A method or interaction the adapter does not offer (HTTP 405)."""

    default_code = "not-supported"
