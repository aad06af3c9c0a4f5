"""Configuration from `MC_`-prefixed environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapter.millennium.settings import MillenniumSettings

DEFAULT_SQLITE_FILE = "mc-adapter.sqlite3"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    """Everything the adapter reads from its environment, resolved once at start."""

    database_url: str = field(default_factory=lambda: f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}")
    # The server's public root (`MC_PUBLIC_BASE_URL`); unset, `serve` uses the address it binds. A base
    # that already ends in `/fhir` (HAPI's convention) is taken as the FHIR base itself.
    public_base_url: str = "http://127.0.0.1:8080"
    public_base_url_configured: bool = False
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 32
    max_json_elements: int = 50_000
    default_page_size: int = 50
    max_page_size: int = 500
    sandbox: bool = False
    secret_key: str | None = None
    workers: int = 2
    # Request threads per worker: a request mostly waits for the database, so a worker keeps
    # several in flight (MC_THREADS); each holds at most one pooled connection.
    threads: int = 4
    bench_endpoints: bool = False  # `POST /bench/baseline`, for the benchmark only
    oidc_issuers: tuple = ()  # trusted OpenID Connect issuers for user tokens (MC_OIDC_ISSUERS, a JSON list)
    ui_oidc: dict | None = None  # MC_UI_OIDC: the pages' sign-in (authorization code with PKCE), adapter/ui/signin_oidc.py
    timezone: str = "Europe/Stockholm"
    # Delivery (adapter/delivery): destinations, outbound HTTP limits, the retry schedule.
    destinations: dict = field(default_factory=dict)  # MC_DESTINATIONS, a JSON object: name -> {url, headers}
    outbound_allow_hosts: tuple = ()  # MC_OUTBOUND_ALLOW_HOSTS: hosts that may be loopback/private and plain http
    outbound_connect_timeout: float = 5.0
    outbound_read_timeout: float = 15.0
    outbound_max_response_bytes: int = 1024 * 1024
    outbound_ca_bundle: str | None = None
    delivery_horizon_seconds: int = 24 * 3600
    delivery_base_delay_seconds: float = 2.0
    delivery_max_delay_seconds: float = 900.0
    delivery_lease_seconds: int = 120
    delivery_threads: int = 4
    delivery_batch: int = 4  # small claims: a row waits for at most three deliveries before it
    subscription_notify_seconds: float = 0.2  # MC_SUBSCRIPTION_NOTIFY_SECONDS: the notifier's pause between passes
    # Follow-up (adapter/followup): the settings mappings/watch_requirements.csv and followup_frames.csv
    # name in their `setting` column; None keeps the table's value.
    samverkan_watches_per_day: int | None = None
    function_watches_per_day: int | None = None
    followup_consult_days: int | None = None
    followup_result_days: int | None = None
    metrics_token: str | None = None  # MC_METRICS_TOKEN: the bearer token `GET /metrics` needs (open in sandbox mode)
    graceful_timeout: int = 30  # MC_GRACEFUL_TIMEOUT: seconds SIGTERM gives in-flight requests and deliveries
    # The Millennium connector (MC_MILLENNIUM_*, adapter/millennium); None: nothing goes upstream.
    millennium: "MillenniumSettings | None" = None

    @property
    def server_base_url(self) -> str:
        """The public root of the server (where `/auth/token` and `/.well-known` live), without `/fhir`."""
        base = self.public_base_url.rstrip("/")
        return base.removesuffix("/fhir")

    @property
    def fhir_base_url(self) -> str:
        """The public URL of the FHIR base (`<public root>/fhir`), never `/fhir/fhir`."""
        return self.server_base_url + "/fhir"

    def bound_to(self, host: str, port: int) -> "Config":
        """This configuration served at `host:port`: links follow the bound address unless a base is configured."""
        if self.public_base_url_configured:
            return self
        shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return replace(self, public_base_url=f"http://{shown}:{port}")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes) -> "Config":
        """Return a copy with some settings changed (CLI flags, tests)."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Config":
        """Read the `MC_*` variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        if "MC_DATABASE_URL" in env:
            kwargs["database_url"] = _normalise_database_url(env["MC_DATABASE_URL"])
        if "MC_PUBLIC_BASE_URL" in env:
            kwargs["public_base_url"] = env["MC_PUBLIC_BASE_URL"].rstrip("/")
            kwargs["public_base_url_configured"] = True
        for name, key in (
            ("max_body_bytes", "MC_MAX_BODY_BYTES"),
            ("max_json_depth", "MC_MAX_JSON_DEPTH"),
            ("max_json_elements", "MC_MAX_JSON_ELEMENTS"),
            ("default_page_size", "MC_DEFAULT_PAGE_SIZE"),
            ("max_page_size", "MC_MAX_PAGE_SIZE"),
            ("workers", "MC_WORKERS"),
            ("threads", "MC_THREADS"),
            ("samverkan_watches_per_day", "MC_SAMVERKAN_WATCHES_PER_DAY"),
            ("function_watches_per_day", "MC_FUNCTION_WATCHES_PER_DAY"),
            ("followup_consult_days", "MC_FOLLOWUP_CONSULT_DAYS"),
            ("followup_result_days", "MC_FOLLOWUP_RESULT_DAYS"),
        ):
            if key in env:
                kwargs[name] = int(env[key])
        if "MC_SANDBOX" in env:
            kwargs["sandbox"] = _bool(env["MC_SANDBOX"])
        if "MC_BENCH_ENDPOINTS" in env:
            kwargs["bench_endpoints"] = _bool(env["MC_BENCH_ENDPOINTS"])
        if env.get("MC_OIDC_ISSUERS"):
            import json

            kwargs["oidc_issuers"] = tuple(json.loads(env["MC_OIDC_ISSUERS"]))
        if env.get("MC_UI_OIDC"):
            import json

            kwargs["ui_oidc"] = json.loads(env["MC_UI_OIDC"])
        kwargs.update(_delivery_settings(env))
        if env.get("MC_METRICS_TOKEN"):
            kwargs["metrics_token"] = env["MC_METRICS_TOKEN"]
        if env.get("MC_GRACEFUL_TIMEOUT"):
            kwargs["graceful_timeout"] = int(env["MC_GRACEFUL_TIMEOUT"])
        from adapter.millennium.settings import from_env as millennium_from_env

        kwargs["millennium"] = millennium_from_env(env)
        if env.get("MC_SECRET_KEY"):
            kwargs["secret_key"] = env["MC_SECRET_KEY"]
        return cls(**kwargs)


_DELIVERY_NUMBERS = (
    ("outbound_connect_timeout", "MC_OUTBOUND_CONNECT_TIMEOUT", float),
    ("outbound_read_timeout", "MC_OUTBOUND_READ_TIMEOUT", float),
    ("outbound_max_response_bytes", "MC_OUTBOUND_MAX_RESPONSE_BYTES", int),
    ("delivery_horizon_seconds", "MC_DELIVERY_HORIZON_SECONDS", int),
    ("delivery_base_delay_seconds", "MC_DELIVERY_BASE_DELAY_SECONDS", float),
    ("delivery_max_delay_seconds", "MC_DELIVERY_MAX_DELAY_SECONDS", float),
    ("delivery_lease_seconds", "MC_DELIVERY_LEASE_SECONDS", int),
    ("delivery_threads", "MC_DELIVERY_THREADS", int),
    ("delivery_batch", "MC_DELIVERY_BATCH", int),
    ("subscription_notify_seconds", "MC_SUBSCRIPTION_NOTIFY_SECONDS", float),
)


def _delivery_settings(env) -> dict:
    import json

    from adapter.delivery.destinations import parse_configured

    kwargs: dict = {}
    for name, key, kind in _DELIVERY_NUMBERS:
        if env.get(key):
            kwargs[name] = kind(env[key])
    if env.get("MC_DESTINATIONS"):
        kwargs["destinations"] = parse_configured(json.loads(env["MC_DESTINATIONS"]))
    if env.get("MC_OUTBOUND_ALLOW_HOSTS"):
        kwargs["outbound_allow_hosts"] = tuple(h.strip().lower() for h in env["MC_OUTBOUND_ALLOW_HOSTS"].split(",") if h.strip())
    if env.get("MC_OUTBOUND_CA_BUNDLE"):
        kwargs["outbound_ca_bundle"] = env["MC_OUTBOUND_CA_BUNDLE"]
    return kwargs


def _normalise_database_url(url: str) -> str:
    # Accept plain postgres URLs and use psycopg 3, the driver we install.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
