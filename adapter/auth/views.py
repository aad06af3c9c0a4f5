"""HTTP views of SMART Backend Services: the discovery document and the token endpoint."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from adapter.auth import backend_services
from adapter.auth.http import token_endpoint
from adapter.db import write_intent
from adapter.http.unit_of_work import commit, session, state

SCOPES_SUPPORTED = [f"system/{t}.{p}" for t in ("Communication", "Task", "Organization", "Practitioner",
                                                  "PractitionerRole", "HealthcareService") for p in ("rs", "cruds")]


def _smart_configuration():
    return jsonify(backend_services.smart_configuration(token_endpoint=token_endpoint(), scopes=SCOPES_SUPPORTED))


def _token():
    write_intent.set(True)
    app_state = state()
    try:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise backend_services.OAuthError("invalid_request", "the token request is application/x-www-form-urlencoded")
        if request.content_length is None or request.content_length > 64 * 1024:
            raise backend_services.OAuthError("invalid_request", "the token request needs a Content-Length of at most 64 KiB")
        response = backend_services.issue_access_token(
            session(), form=request.form.to_dict(), token_endpoint=token_endpoint(),
            fhir_base=app_state.config.fhir_base_url, key=app_state.key("access_token_key"), now=app_state.clock(),
        )
        commit()
    except backend_services.OAuthError as error:
        commit()  # a replay's jti stays recorded; nothing else was written
        result = jsonify({"error": error.error, "error_description": error.description})
        result.status_code = error.status
        result.headers["Cache-Control"] = "no-store"
        return result
    result = jsonify(response)
    result.headers["Cache-Control"] = "no-store"
    return result


def auth_blueprint() -> Blueprint:
    """`/.well-known/smart-configuration` (at the root and under `/fhir`) and `/auth/token`."""
    bp = Blueprint("auth", __name__)
    bp.add_url_rule("/.well-known/smart-configuration", "smart_configuration", _smart_configuration, methods=["GET"])
    # Also under the FHIR base, without a token: that is where SMART clients look (fhirclient, sekmet).
    bp.add_url_rule("/fhir/.well-known/smart-configuration", "fhir_smart_configuration", _smart_configuration,
                    methods=["GET"])
    bp.add_url_rule("/auth/token", "token", _token, methods=["POST"])
    return bp
