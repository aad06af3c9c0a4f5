"""The composition root: `create_app(config)` wires configuration, storage, domains and HTTP."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from flask import Flask, jsonify

from adapter.audit.registration import register as register_audit
from adapter.auth.oidc import Issuer, JwksCache
from adapter.auth.verified import VerifiedTokens
from adapter.auth.views import auth_blueprint
from adapter.config import Config
from adapter.db import make_engine, make_session_factory, utcnow
from adapter.directory.registration import register as register_directory
from adapter.inbox.registration import register as register_inbox
from adapter.messaging.registration import register as register_messaging
from adapter.partner.registration import register as register_partner
from adapter.results.registration import register as register_results
from adapter.subscriptions.registration import register as register_subscriptions
from adapter.followup.registration import register as register_followup
from adapter.ui import ui_blueprint
from adapter.fhir.registry import Registry
from adapter.fhir.store import install_cache_reset
from adapter.fhir.validation import BaseDefinitions, ResourceValidator
from adapter.fhir.conformance import register as register_conformance
from adapter.fhir.profiles import Profiles
from adapter.fhir.views import fhir_blueprint
from adapter.ops.health import health_blueprint
from adapter.ops.logs import install_request_ids
from adapter.ops.metrics import install_request_metrics, metrics_blueprint
from adapter.ops.registration import register as register_ops
from adapter.http.errors import register_error_handlers
from adapter.http.unit_of_work import AppState, close_session


def build_registry(config: Config | None = None) -> Registry:
    """Every domain's resources and operations (and the connectors `config` configures)."""
    registry = Registry()
    register_directory(registry)
    register_inbox(registry)
    register_messaging(registry)
    register_results(registry)
    register_partner(registry)
    register_subscriptions(registry)
    register_followup(registry)
    register_audit(registry)
    register_conformance(registry)
    register_ops(registry)
    if config is not None and config.millennium is not None:
        from adapter.millennium.registration import register as register_millennium

        register_millennium(registry, config=config)
    profiles = Profiles.load()
    for definition in registry.resources.values():
        definition.profile_url = definition.profile_url or profiles.url_of(definition.name)
    return registry


def _add_admin_api(app: Flask) -> None:
    """The non-FHIR admin API (flask-smorest), its OpenAPI document at /admin/openapi.json."""
    from flask_smorest import Api

    from adapter import __version__
    from adapter.delivery.views import blueprint as outbox
    from adapter.followup.views import blueprint as followup
    from adapter.proxies.views import blueprint as proxies
    from adapter.proxies.views import memberships

    app.config.update(API_TITLE="mc-adapter admin API", API_VERSION=__version__, OPENAPI_VERSION="3.0.3",
                      OPENAPI_URL_PREFIX="/admin", OPENAPI_JSON_PATH="openapi.json")
    api = Api(app)
    api.register_blueprint(proxies)
    api.register_blueprint(memberships)
    api.register_blueprint(outbox)
    api.register_blueprint(followup)


def create_app(config: Config | None = None, *, clock: Callable[[], datetime] = utcnow) -> Flask:
    """Build the WSGI application for `config` (default: from the environment)."""
    config = config or Config.from_env()
    app = Flask("adapter")
    app.config["MC"] = config
    # Our own limit check answers 413 as an OperationOutcome; Werkzeug's stays as a backstop.
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes + 1024
    engine = make_engine(config.database_url, pool_size=5)
    sessions = make_session_factory(engine)
    install_cache_reset(sessions)
    app.extensions["mc"] = AppState(
        config=config,
        engine=engine,
        sessions=sessions,
        registry=build_registry(config),
        validator=ResourceValidator(BaseDefinitions.load()),
        clock=clock,
        issuers={i.issuer: i for i in (Issuer.from_config(raw) for raw in config.oidc_issuers)},
        jwks=JwksCache(),
        verified_tokens=VerifiedTokens(),
    )
    app.register_blueprint(fhir_blueprint())
    app.register_blueprint(auth_blueprint())
    app.register_blueprint(health_blueprint())
    app.register_blueprint(metrics_blueprint())
    app.register_blueprint(ui_blueprint())
    install_request_ids(app)
    install_request_metrics(app)
    _add_admin_api(app)
    register_error_handlers(app)  # after flask-smorest's, so that ours answer on every endpoint
    if config.bench_endpoints:
        from adapter.bench.baseline import baseline_blueprint

        app.register_blueprint(baseline_blueprint())
    app.teardown_appcontext(close_session)

    @app.get("/")
    def _index():
        return jsonify({
            "name": "mc-adapter",
            "fhir": config.fhir_base_url,
            "capabilities": f"{config.fhir_base_url}/metadata",
            "sandbox": config.sandbox,
        })

    logging.getLogger("adapter").setLevel(logging.INFO)
    return app
