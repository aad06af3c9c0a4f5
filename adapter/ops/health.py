"""`GET /livez` and `GET /readyz`: no token, no data.

`/livez` answers while the process can serve. `/readyz` answers 200 only when the database
answers, the schema is at the newest migration and the outbox (the workers' queue) can be read;
its details add the periodic jobs' last runs and each domain's status report (the routine's
validity). A readiness failure names the failing check, never an error's text.
"""

from __future__ import annotations

import json
import logging
from functools import cache

from flask import Blueprint, Response
from sqlalchemy import func, select, text

from adapter.http.unit_of_work import state
from adapter.ops import jobs

log = logging.getLogger("adapter.health")
HEALTH_JSON = "application/health+json"


@cache
def _head_revision() -> str:
    from adapter import migrate

    return migrate.head_revision()


def _response(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type=HEALTH_JSON, headers={"Cache-Control": "no-store"})


def _livez():
    return _response({"status": "pass"}, 200)


def _checks(connection) -> dict[str, dict]:
    from adapter.delivery.outbox import OUTBOX

    checks = {}
    connection.execute(text("SELECT 1"))
    checks["database"] = {"status": "pass"}
    current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    checks["migrations"] = {"status": "pass" if current == _head_revision() else "fail", "current": current,
                            "head": _head_revision()}
    connection.execute(select(func.count()).select_from(select(OUTBOX.c.id).limit(1).subquery()))
    checks["outbox"] = {"status": "pass"}
    return checks


def _readyz():
    app_state = state()
    try:
        with app_state.engine.connect() as connection:
            checks = _checks(connection)
        with app_state.sessions() as session:
            checks["periodicJobs"] = {"status": "pass", "jobs": jobs.last_runs(session)}
    except Exception as exc:  # the database is down or the schema missing: not ready, and say which
        log.warning("readiness check failed: %s", type(exc).__name__)
        return _response({"status": "fail", "checks": {"database": {"status": "fail", "error": type(exc).__name__}}}, 503)
    now = app_state.clock()
    for name, report in app_state.registry.status_reports.items():
        reported = report(now)
        checks[name] = {"status": "warn" if reported.get("expired") else "pass", **reported}
    failed = any(c["status"] == "fail" for c in checks.values())
    return _response({"status": "fail" if failed else "pass", "checks": checks}, 503 if failed else 200)


def health_blueprint() -> Blueprint:
    """`/livez` and `/readyz`."""
    bp = Blueprint("health", __name__)
    bp.add_url_rule("/livez", "livez", _livez, methods=["GET"])
    bp.add_url_rule("/readyz", "readyz", _readyz, methods=["GET"])
    return bp
