"""The admin API for the outbox (marshmallow schemas, OpenAPI by flask-smorest at /admin/openapi.json)."""

from __future__ import annotations

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from adapter.auth.http import authenticate
from adapter.db import write_intent
from adapter.delivery import outbox
from adapter.errors import Forbidden, NotFound
from adapter.http.unit_of_work import commit, context

blueprint = Blueprint("admin_outbox", __name__, url_prefix="/admin/outbox",
                      description="Deliveries waiting to leave the adapter, dead letters, retries (operators: förvaltning)")
DESTINATION = validate.Length(min=1, max=200)


@blueprint.before_request
def _authenticate() -> None:
    write_intent.set(request.method not in ("GET", "HEAD"))
    authenticate()
    if "forvaltning" not in g.caller.roles:
        raise Forbidden.simple("the outbox is operated by förvaltning (support and administration)")


class DestinationCounts(Schema):
    """One destination's rows by state."""

    destination = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class StatusOut(Schema):
    """Counts by state and destination, and the oldest undelivered row's age."""

    totals = fields.Dict(keys=fields.String(), values=fields.Integer())
    destinations = fields.List(fields.Nested(DestinationCounts))
    oldest_pending_seconds = fields.Float(allow_none=True)


class AttemptOut(Schema):
    """One attempt (never the body)."""

    number = fields.Integer()
    at = fields.AwareDateTime()
    worker = fields.String()
    outcome = fields.String(metadata={"description": "delivered, transient or permanent"})
    status = fields.Integer(allow_none=True)
    reason = fields.String()
    duration_ms = fields.Integer()


class DeadLetterOut(Schema):
    """A delivery that failed for good; its payload is kept (not shown here)."""

    id = fields.String(metadata={"description": "Also the idempotency key (X-Request-Id) the receiver saw"})
    kind = fields.String()
    destination = fields.String()
    message = fields.String(allow_none=True)
    sender = fields.String(allow_none=True)
    recipient = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime(allow_none=True)
    reason = fields.String(allow_none=True)
    attempts = fields.List(fields.Nested(AttemptOut))


class DeadLetterArgs(Schema):
    """Which dead letters."""

    destination = fields.String(validate=DESTINATION)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class RetryArgs(Schema):
    """Whose dead letters to put back."""

    destination = fields.String(required=True, validate=DESTINATION)


class RequeuedOut(Schema):
    """The rows put back in the queue."""

    requeued = fields.List(fields.String())


@blueprint.route("")
class Status(MethodView):
    """The outbox at a glance."""

    @blueprint.response(200, StatusOut)
    def get(self):
        """Counts by state and destination, and the oldest pending row's age in seconds."""
        ctx = context()
        return outbox.status(ctx.session, now=ctx.clock())


@blueprint.route("/dead-letters")
class DeadLetters(MethodView):
    """Dead letters."""

    @blueprint.arguments(DeadLetterArgs, location="query")
    @blueprint.response(200, DeadLetterOut(many=True))
    def get(self, args):
        """Dead letters, newest first, with every attempt."""
        return outbox.dead_letters(context().session, destination=args.get("destination"), limit=args["limit"])


@blueprint.route("/dead-letters/<uuid:entry_id>/retry")
class RetryOne(MethodView):
    """Retry one dead letter."""

    @blueprint.response(200, RequeuedOut)
    def post(self, entry_id):
        """Put the dead letter back in the queue with a fresh horizon."""
        ids = outbox.requeue(context(), entry_id=str(entry_id))
        if not ids:
            raise NotFound.simple("no such dead letter")
        commit()
        return {"requeued": ids}


@blueprint.route("/retry")
class RetryDestination(MethodView):
    """Retry a destination's dead letters."""

    @blueprint.arguments(RetryArgs, location="query")
    @blueprint.response(200, RequeuedOut)
    def post(self, args):
        """Put every dead letter of the destination back in the queue (after the receiver is fixed)."""
        ids = outbox.requeue(context(), destination=args["destination"])
        commit()
        return {"requeued": ids}
