"""`/ui`: sign in (the sandbox's synthetic users), the follow-up page (MC-R47) and the sandbox's inbox pages
(`adapter/ui/sandbox.py`), server-rendered.

Security: a signed session cookie (HttpOnly, SameSite=Lax, Secure behind https) holds only the
user's HSA-id and a CSRF token; every form posts the token back; every page carries a
Content-Security-Policy that allows nothing inline and nothing from elsewhere. The pages are
served in sandbox mode, where sign-in picks a synthetic user, and outside it when the pages'
sign-in through an OpenID Connect issuer is configured (`MC_UI_OIDC`: authorization code with
PKCE, adapter/ui/signin_oidc.py); otherwise they answer 404.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import timedelta

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from marshmallow import EXCLUDE, ValidationError
from sqlalchemy import select

from adapter.auth.service import caller_from_claims
from adapter.db import write_intent
from adapter.directory import lookups, shapes
from adapter.errors import Forbidden, Unauthenticated, UnprocessableResource
from adapter.fhir.models import ResourceRow
from adapter.followup import calendar, report, scope
from adapter.followup.views import FollowupArgs
from adapter.http.unit_of_work import context, state
from adapter.http.unit_of_work import session as db_session
from adapter.identifiers import HSA_ID
from adapter.ui import signin_oidc
from adapter.ui.plots import bar_chart
from adapter.ui.texts import LANGUAGES, TEXTS

USER, CSRF, LANG = "mc_ui_user", "mc_ui_csrf", "mc_ui_lang"
DEFAULT_DAYS = 28
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")

blueprint = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")


class _LazyKeySessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, signed with a key kept in the database (read on first use, once per process)."""

    def open_session(self, app, request):
        # Only the pages have sessions: the APIs (and /readyz with the database away) never touch the key.
        if not request.path.startswith("/ui"):
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app):
        if not app.secret_key:
            app.secret_key = state(app).key("ui_session_key")
        return super().get_signing_serializer(app)


@blueprint.record_once
def _cookie_settings(setup) -> None:
    setup.app.session_interface = _LazyKeySessions()
    config = setup.app.config["MC"]
    # Outside the sandbox the pages sign in through the configured issuer, or are not served.
    setup.app.extensions["mc_ui_oidc"] = (signin_oidc.PagesClient.from_config(config.ui_oidc, state(setup.app).issuers)
                                          if config.ui_oidc else None)
    setup.app.config.update(SESSION_COOKIE_NAME="mc_ui", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                            SESSION_COOKIE_SECURE=config.public_base_url.startswith("https://"),
                            PERMANENT_SESSION_LIFETIME=timedelta(hours=8))


@blueprint.before_request
def _prepare() -> None:
    if not state().config.sandbox and _pages_client() is None:
        abort(404)
    write_intent.set(request.method not in ("GET", "HEAD"))  # a page view reads (SQLite: no write lock)
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session[LANG] = chosen
    g.lang = session.get(LANG, "sv")
    g.t = TEXTS[g.lang]
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    if request.method == "POST" and not hmac.compare_digest(request.form.get("csrf_token", ""), session[CSRF]):
        abort(400, "the form's CSRF token does not match the session")


@blueprint.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_template_global()
def csrf_token() -> str:
    return session.get(CSRF, "")


@blueprint.context_processor
def _signed_in_user() -> dict:
    """Every page's header names the signed-in user."""
    caller = signed_in_caller() if USER in session else None
    return {"user": session.get(USER), "user_name": _name_of(caller) if caller else None}


@blueprint.get("/")
def index():
    landing = "ui.inbox" if state().config.sandbox else "ui.followup"
    return redirect(url_for(landing if USER in session else "ui.signin"))


def _sandbox_users() -> list[dict]:
    """The directory's users (the sandbox has a few dozen), by name, with their HSA-ids."""
    rows = db_session().execute(select(ResourceRow.content).where(ResourceRow.resource_type == "Practitioner").limit(500))
    users = []
    for (content,) in rows:
        resource = json.loads(content)
        hsa = next((i["value"] for i in resource.get("identifier", []) if i.get("system") == HSA_ID), None)
        if hsa:
            users.append({"hsa_id": hsa, "name": shapes.display_name(resource) or hsa})
    return sorted(users, key=lambda u: u["name"])


def _pages_client():
    return current_app.extensions.get("mc_ui_oidc")


def _redirect_uri() -> str:
    return state().config.server_base_url + url_for("ui.callback")


def _signed_in_as(hsa_id: str, landing: str):
    """A new session (a new CSRF token) for the user: nothing of the signed-out one is kept but the language."""
    session.clear()
    session[USER] = hsa_id
    session[LANG] = g.lang
    session[CSRF] = secrets.token_urlsafe(32)
    return redirect(url_for(landing))


@blueprint.get("/signin")
def signin():
    if not state().config.sandbox:
        return render_template("signin.html", oidc=True)
    return render_template("signin.html", users=_sandbox_users())


@blueprint.post("/signin")
def signin_post():
    if not state().config.sandbox:
        abort(404)
    hsa_id = request.form.get("hsa_id", "")
    if lookups.practitioner_id_by_hsa(db_session(), hsa_id=hsa_id) is None:
        return render_template("signin.html", users=_sandbox_users(), error=True), 422
    return _signed_in_as(hsa_id, "ui.inbox")


@blueprint.get("/signin/oidc")
def signin_oidc_start():
    client = _pages_client()
    if client is None:
        abort(404)
    return redirect(signin_oidc.start(client, redirect_uri=_redirect_uri(), session=session))


@blueprint.get("/callback")
def callback():
    client = _pages_client()
    if client is None:
        abort(404)
    try:
        hsa_id = signin_oidc.finish(client, code=request.args.get("code"), state=request.args.get("state"),
                                    redirect_uri=_redirect_uri(), session=session, issuers=state().issuers,
                                    cache=state().jwks)
    except Unauthenticated as exc:
        return render_template("signin.html", oidc=True, problem=exc.issues[0].diagnostics), 401
    if lookups.practitioner_id_by_hsa(db_session(), hsa_id=hsa_id) is None:
        return render_template("signin.html", oidc=True, problem="the directory has no such user"), 401
    return _signed_in_as(hsa_id, "ui.followup")


@blueprint.post("/signout")
def signout():
    session.clear()
    return redirect(url_for("ui.signin"))


def signed_in_caller():
    """The signed-in user as a Caller (None: nobody is signed in)."""
    hsa_id = session.get(USER)
    if not hsa_id:
        return None
    return caller_from_claims(db_session(), {"kind": "user", "sub": hsa_id, "unit": None})


@blueprint.get("/followup")
def followup():
    caller = signed_in_caller()
    if caller is None:
        return redirect(url_for("ui.signin"))
    ctx = context(caller)
    try:
        args = FollowupArgs(unknown=EXCLUDE).load(request.args)
    except ValidationError as exc:
        return render_template("followup.html", error=exc.messages, figures=None), 422
    end = args["end"] or calendar.local_date(ctx.clock())
    start = args["start"] or end - timedelta(days=DEFAULT_DAYS - 1)
    try:
        followed = scope.scope_of(ctx)
        unit = args["unit"].removeprefix("Organization/") if args["unit"] else None
        inboxes = scope.inboxes_followed(ctx, followed, unit=unit)
        settings = report.settings_from(ctx.config)
        figures = report.report(ctx, inboxes=inboxes, start=start, end=end, settings=settings)
    except Forbidden:
        return render_template("followup.html", forbidden=True, figures=None), 403
    except UnprocessableResource as exc:
        return render_template("followup.html", error=str(exc), figures=None), 422
    weekly = [(f"{g.t['week']} {w['week']}", w) for w in report.weekly(ctx, inboxes=inboxes, figures=figures)]
    summary = figures["summary"]
    charts = {
        "weekly_compliance": bar_chart([(label, s["ratio"]) for label, s in weekly], title=g.t["weekly_compliance"],
                                       maximum=1.0, percent=True),
        "age_distribution": bar_chart([(g.t[name], count) for name, count in summary["open_items"]["by_age"].items()],
                                      title=g.t["age_distribution"]),
        "time_to_done": bar_chart([(label, s["handled"]["time_to_done_hours"]["p50"]) for label, s in weekly],
                                  title=g.t["time_to_done"]),
    }
    units = sorted({(i.organization_id, i.organization_hsa_id) for i in inboxes if i.organization_id and not i.is_personal},
                   key=lambda u: u[1] or "")
    return render_template("followup.html", figures=figures, charts=charts, units=units, unit=unit, start=start, end=end)


def _name_of(caller) -> str | None:
    """The signed-in user's name, from the directory."""
    if not caller.practitioner_id:
        return None
    reference = f"Practitioner/{caller.practitioner_id}"
    return lookups.inbox_names(db_session(), [reference]).get(reference)
