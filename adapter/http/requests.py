"""Reading FHIR requests: media types, body size, JSON limits, preconditions."""

from __future__ import annotations

import re

from flask import current_app, g, request

from adapter.errors import MalformedRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from adapter.fhir.validation import parse_json

JSON_TYPES = {"application/fhir+json", "application/json"}
# What `_format` and `Accept` may ask for: FHIR JSON under its names (R4, DSTU2's, plain JSON).
SERVED_MEDIA_TYPES = ("application/fhir+json", "application/json", "application/json+fhir", "text/json")
_FORMAT_NAMES = {"json", *SERVED_MEDIA_TYPES}


def check_acceptable() -> None:
    """406 when `_format` or `Accept` asks only for what is not served (XML, Turtle): answers are FHIR JSON."""
    requested = request.args.get("_format")
    if requested is not None:
        # '+' in a query string decodes to a space: `_format=application/fhir+json` arrives as 'application/fhir json'.
        name = requested.replace(" ", "+").split(";")[0].strip().lower()
        if name not in _FORMAT_NAMES:
            raise NotAcceptable.simple(f"_format '{requested}' is not served; the adapter answers FHIR JSON "
                                       "(_format=json or application/fhir+json)", expression="_format")
        return  # `_format` overrides Accept (FHIR RESTful API, "Content Types and encodings")
    if request.headers.get("Accept", "").strip() and request.accept_mimetypes.best_match(SERVED_MEDIA_TYPES) is None:
        raise NotAcceptable.simple(f"Accept '{request.headers['Accept']}' names nothing served; the adapter answers "
                                   "application/fhir+json", expression="Accept")


def refuse_oversized(max_bytes: int) -> None:
    """413 when the declared Content-Length is over `max_bytes` (before anything is read)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge.simple(f"the body has {length} bytes; at most {max_bytes} are accepted")


def read_body_bytes(max_bytes: int) -> bytes:
    """The raw body, refusing (413) one over `max_bytes` without reading it whole."""
    refuse_oversized(max_bytes)
    body = request.stream.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise PayloadTooLarge.simple(f"the body exceeds {max_bytes} bytes")
    return body


def read_fhir_json(media_types: set[str] = JSON_TYPES):
    """The body as parsed JSON, after media type (415), size (413) and shape (400) checks."""
    config = current_app.config["MC"]
    if request.mimetype not in media_types:
        raise UnsupportedMediaType.simple(
            f"Content-Type must be one of {', '.join(sorted(media_types))}, not '{request.mimetype or 'none'}'"
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType.simple("only UTF-8 bodies are accepted")
    body = read_body_bytes(config.max_body_bytes)
    if not body.strip():
        raise MalformedRequest.simple("the body is empty")
    parsed = parse_json(body, max_depth=config.max_json_depth, max_elements=config.max_json_elements)
    g.request_body = parsed  # a refused request's audit names the patient it aimed at
    return parsed


def if_match_version() -> int | None:
    """The version an `If-Match: W/"n"` header names, or None without the header."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    match = re.fullmatch(r'\s*(?:W/)?"(\d{1,9})"\s*', header)
    if not match:
        raise MalformedRequest.simple('If-Match must be an ETag such as W/"3"', expression="If-Match")
    return int(match[1])


def prefers(name: str, value: str) -> bool:
    """True when the `Prefer` header asks for `name=value`."""
    for part in request.headers.get("Prefer", "").split(";"):
        for item in part.split(","):
            key, _, val = item.strip().partition("=")
            if key.strip() == name and val.strip().strip('"') == value:
                return True
    return False
