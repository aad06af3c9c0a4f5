"""The follow-up API: `GET /admin/followup` (JSON) and `GET /admin/followup/csv` (MC-R47)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from adapter.auth.http import authenticate
from adapter.db import write_intent
from adapter.errors import Issue, UnprocessableResource
from adapter.followup import calendar, report, scope
from adapter.http.unit_of_work import context

blueprint = Blueprint("admin_followup", __name__, url_prefix="/admin/followup",
                      description="Follow-up of shared inboxes (MC-R47): watches within opening hours (MC-R34 to "
                                  "MC-R36), open and overdue items, handling times. No patient data.")


EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


class FollowupArgs(Schema):
    """The period (local dates, Europe/Stockholm; default the last 7 days) and optionally one unit."""

    start = fields.Date(data_key="from", load_default=None, validate=validate.Range(min=EARLIEST, max=LATEST))
    end = fields.Date(data_key="to", load_default=None, validate=validate.Range(min=EARLIEST, max=LATEST))
    unit = fields.String(load_default=None, validate=validate.Regexp(r"^(Organization/)?[A-Za-z0-9\-.]{1,64}$"),
                         metadata={"description": "An Organization id (a unit) the caller follows up"})

    @validates_schema
    def _period(self, data, **_):
        if data["start"] and data["end"] and data["start"] > data["end"]:
            raise ValidationError("'from' is after 'to'", "from")
        if data["start"] and data["end"] and (data["end"] - data["start"]).days >= report.MAX_DAYS:
            raise ValidationError(f"a period has at most {report.MAX_DAYS} days", "to")


class Percentiles(Schema):
    p50 = fields.Float(allow_none=True)
    p90 = fields.Float(allow_none=True)


class DayOut(Schema):
    """One local day of an inbox."""

    date = fields.String()
    open = fields.Boolean(metadata={"description": "Within the unit's opening hours (not a weekend or holiday)"})
    required = fields.Integer(metadata={"description": "Parts of the open hours that each need a watch"})
    watched = fields.Integer(metadata={"description": "Parts with a watch by a member or the organisation's system"})
    compliant = fields.Boolean(allow_none=True, metadata={"description": "None on a closed day and until the day's hours are over"})
    done = fields.Integer()
    done_by_proxy = fields.Integer()


class InboxOut(Schema):
    """One shared inbox's figures."""

    inbox = fields.String()
    name = fields.String(allow_none=True)
    unit_hsa_id = fields.String(allow_none=True)
    inbox_kind = fields.String()
    watches_per_day = fields.Integer()
    days = fields.List(fields.Nested(DayOut))
    compliance = fields.Dict()
    open_items = fields.Dict(metadata={"description": "Open items now: total and by age"})
    overdue = fields.Dict(metadata={"description": "Past their due date; FK questions, consults and results past their frame"})
    handled = fields.Dict(metadata={"description": "Done in the period: count, by proxies, time to open and to done (hours)"})


class FollowupOut(Schema):
    """The figures of every shared inbox the caller follows up."""

    period = fields.Dict()
    generated = fields.String()
    rule = fields.String()
    settings = fields.Dict()
    summary = fields.Dict(metadata={"description": "Every inbox of the report together"})
    inboxes = fields.List(fields.Nested(InboxOut))


@blueprint.before_request
def _authenticate() -> None:
    write_intent.set(False)
    authenticate()


def _figures(args) -> dict:
    ctx = context()
    today = calendar.local_date(ctx.clock())
    end = args["end"] or (today if not args["start"] else min(today, args["start"] + timedelta(days=6)))
    start = args["start"] or end - timedelta(days=6)
    if start > end or (end - start).days >= report.MAX_DAYS:
        raise UnprocessableResource(Issue("value", f"the period runs forward and has at most {report.MAX_DAYS} days", "from"))
    followed = scope.scope_of(ctx)
    unit = args["unit"].removeprefix("Organization/") if args["unit"] else None
    inboxes = scope.inboxes_followed(ctx, followed, unit=unit)
    return report.report(ctx, inboxes=inboxes, start=start, end=end, settings=report.settings_from(ctx.config))


@blueprint.route("")
class Followup(MethodView):
    """Figures per shared inbox and day."""

    @blueprint.arguments(FollowupArgs, location="query")
    @blueprint.response(200, FollowupOut)
    def get(self, args):
        """Watches vs required per day, open items by age, overdue items, handling times (MC-R47)."""
        return _figures(args)


@blueprint.route("/csv")
class FollowupCsv(MethodView):
    """The same figures as CSV, one row per inbox and day."""

    @blueprint.arguments(FollowupArgs, location="query")
    @blueprint.response(200, content_type="text/csv", description="date, unit, inbox, watches required and done, items done")
    def get(self, args):
        """CSV export: one row per shared inbox and local day."""
        rows = report.csv_rows(_figures(args))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["date"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=followup.csv"})
