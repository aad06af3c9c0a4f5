"""Configuration from `MC_`-prefixed environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_SQLITE_FILE = "mc-adapter.sqlite3"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    """Everything the adapter reads from its environment, resolved once at start."""

    database_url: str = field(default_factory=lambda: f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}")
    public_base_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 32
    max_json_elements: int = 50_000
    default_page_size: int = 50
    max_page_size: int = 500
    sandbox: bool = False
    secret_key: str | None = None
    workers: int = 2
    bench_endpoints: bool = False  # `POST /bench/baseline`, for the benchmark only
    oidc_issuers: tuple = ()  # trusted OpenID Connect issuers for user tokens (MC_OIDC_ISSUERS, a JSON list)
    timezone: str = "Europe/Stockholm"

    @property
    def fhir_base_url(self) -> str:
        """The public URL of the FHIR base (`<public base>/fhir`)."""
        return self.public_base_url.rstrip("/") + "/fhir"

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
        for name, key in (
            ("max_body_bytes", "MC_MAX_BODY_BYTES"),
            ("max_json_depth", "MC_MAX_JSON_DEPTH"),
            ("max_json_elements", "MC_MAX_JSON_ELEMENTS"),
            ("default_page_size", "MC_DEFAULT_PAGE_SIZE"),
            ("max_page_size", "MC_MAX_PAGE_SIZE"),
            ("workers", "MC_WORKERS"),
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
        if env.get("MC_SECRET_KEY"):
            kwargs["secret_key"] = env["MC_SECRET_KEY"]
        return cls(**kwargs)


def _normalise_database_url(url: str) -> str:
    # Accept plain postgres URLs and use psycopg 3, the driver we install.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
