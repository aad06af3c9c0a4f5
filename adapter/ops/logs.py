"""Structured JSON logs, one object per line, with the request id (`X-Request-Id`).

What is logged is decided where it is logged: messages carry ids, counts, statuses and error
class names, never patient data, message text or tokens (a test sends all three and reads the
log). The request id comes from the caller's `X-Request-Id` when it is a plain token, else a
new one; it is echoed in the response, so one id follows a message through proxy, adapter and
logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "request_id"?, "exception"?}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the class only: its text may quote the request
        return json.dumps(entry, ensure_ascii=False)


def _current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def configure_logging(level: int = logging.INFO, stream=None) -> None:
    """Send the adapter's and gunicorn's logs to `stream` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("adapter", "gunicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def request_id() -> str:
    """This request's id (set before any view runs)."""
    return g.get("request_id") or "-"


def install_request_ids(app: Flask) -> None:
    """Take or make `X-Request-Id` for every request, and echo it."""

    @app.before_request
    def _take():
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def _echo(response):
        response.headers["X-Request-Id"] = request_id()
        return response


# gunicorn's access log, one JSON object per request: the path without its query string (a
# search may name a patient), status, bytes, duration and the request id.
ACCESS_LOG_FORMAT = ('{"ts": "%(t)s", "logger": "access", "method": "%(m)s", "path": "%(U)s", "status": "%(s)s", '
                     '"bytes": "%(B)s", "ms": "%(M)s", "request_id": "%({x-request-id}o)s"}')
