"""The admin API for proxies (marshmallow schemas, OpenAPI by flask-smorest at /admin/openapi.json)."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from adapter.auth.http import authenticate
from adapter.db import write_intent
from adapter.http.unit_of_work import commit, context
from adapter.proxies import membership, service

ID = validate.Regexp(r"^(Practitioner/)?[A-Za-z0-9\-.]{1,64}$")


def _id(value: str) -> str:
    return value.removeprefix("Practitioner/")


class GrantIn(Schema):
    """A proxy grant to make."""

    principal = fields.String(required=True, validate=ID, metadata={"description": "The principal's Practitioner id"})
    proxy = fields.String(required=True, validate=ID, metadata={"description": "The proxy's Practitioner id"})
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)
    decided_by = fields.String(required=True, validate=ID,
                               metadata={"description": "The enhetschef or verksamhetschef who decided the period (MC-R42)"})
    acknowledge_multiple_operations = fields.Boolean(load_default=False, metadata={
        "description": "Required when the principal works in several operations: the proxy sees all of them (MC-R41)"})


class GrantOut(Schema):
    """A proxy grant."""

    id = fields.String()
    principal = fields.String()
    proxy = fields.String()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    granted_by = fields.String()
    decided_by = fields.String()
    revoked = fields.Boolean()
    active = fields.Boolean()
    principal_has_single_proxy = fields.Boolean(metadata={"description": "A warning: give the principal another proxy (MC-R44)"})


class ListArgs(Schema):
    """Which unit's proxies to list."""

    unit = fields.String(required=True, validate=validate.Regexp(r"^(Organization/)?[A-Za-z0-9\-.]{1,64}$"))


blueprint = Blueprint("admin_proxies", __name__, url_prefix="/admin/proxies", description="Proxies (ombud), MC-R39 to MC-R46")


@blueprint.before_request
def _authenticate() -> None:
    write_intent.set(request.method not in ("GET", "HEAD"))
    authenticate()


@blueprint.route("")
class Proxies(MethodView):
    """Grant and list proxies."""

    @blueprint.arguments(ListArgs, location="query")
    @blueprint.response(200, GrantOut(many=True))
    def get(self, args):
        """List every proxy of the unit's users (MC-R40), with single-proxy warnings (MC-R44)."""
        return service.list_for_unit(context(), unit_id=args["unit"].removeprefix("Organization/"))

    @blueprint.arguments(GrantIn)
    @blueprint.response(201, GrantOut)
    def post(self, data):
        """Grant a proxy the principal's personal inbox for a fixed period (MC-R40 to MC-R42)."""
        grant = service.grant(
            context(), principal_id=_id(data["principal"]), proxy_id=_id(data["proxy"]), start=data["start"],
            end=data["end"], decided_by=_id(data["decided_by"]),
            acknowledge_multiple_operations=data["acknowledge_multiple_operations"],
        )
        commit()
        return grant


@blueprint.route("/<grant_id>")
class ProxyGrant(MethodView):
    """One grant."""

    @blueprint.response(204)
    def delete(self, grant_id):
        """Revoke a grant at once."""
        service.revoke(context(), grant_id=grant_id)
        commit()


class MembershipIn(Schema):
    """A membership to add or remove."""

    inbox = fields.String(required=True, validate=validate.Regexp(r"^(HealthcareService/)?[A-Za-z0-9\-.]{1,64}$"))
    practitioner = fields.String(required=True, validate=ID)


class InboxArgs(Schema):
    """Which shared inbox."""

    inbox = fields.String(required=True, validate=validate.Regexp(r"^(HealthcareService/)?[A-Za-z0-9\-.]{1,64}$"))


class MembersOut(Schema):
    """A shared inbox's members."""

    inbox = fields.String()
    members = fields.List(fields.String())


memberships = Blueprint("admin_memberships", __name__, url_prefix="/admin/memberships",
                        description="Shared-inbox membership (MC-R33, MC-R32)")
memberships.before_request(_authenticate)


@memberships.route("")
class Memberships(MethodView):
    """Members of a shared inbox."""

    @memberships.arguments(InboxArgs, location="query")
    @memberships.response(200, MembersOut)
    def get(self, args):
        """List the inbox's members."""
        inbox_id = args["inbox"].removeprefix("HealthcareService/")
        return {"inbox": f"HealthcareService/{inbox_id}", "members": membership.members(context(), inbox_id=inbox_id)}

    @memberships.arguments(MembershipIn)
    @memberships.response(204)
    def post(self, data):
        """Add a member."""
        membership.add_member(context(), inbox_id=data["inbox"].removeprefix("HealthcareService/"),
                              practitioner_id=_id(data["practitioner"]))
        commit()

    @memberships.arguments(MembershipIn, location="query")
    @memberships.response(204)
    def delete(self, data):
        """Remove a member."""
        membership.remove_member(context(), inbox_id=data["inbox"].removeprefix("HealthcareService/"),
                                 practitioner_id=_id(data["practitioner"]))
        commit()
