"""The connector's configuration (`MC_MILLENNIUM_*`); without a base URL nothing is sent upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from adapter.identifiers import PERSONNUMMER_OID


@dataclass(frozen=True)
class MillenniumSettings:
    """Where the tenant is, how the adapter signs in there, and who it writes as."""

    base_url: str  # the tenant's FHIR R4 base, e.g. https://fhir-ehr.cerner.com/r4/<tenant>
    token_url: str  # Millennium's (the authorization server's) token endpoint
    client_id: str
    private_jwk: dict = field(repr=False)  # RS384 or ES384 key for the client assertion; never printed
    scopes: str = "system/Communication.read system/Communication.write system/Patient.read system/Binary.read"
    # The Millennium Practitioner a message is sent as when its sender does not live in Millennium.
    integration_practitioner: str = ""
    # The identifier system Millennium knows the personnummer by (a Patient?identifier= search).
    patient_system: str = PERSONNUMMER_OID
    poll_seconds: float = 30.0  # how often the mirrored Groups are polled
    overlap_seconds: float = 300.0  # each poll window starts this long before the last one ended
    first_window_seconds: float = 24 * 3600.0  # how far back the first poll of a Group looks
    patient_cache_seconds: float = 3600.0
    inbound_threads: int = 4  # the poller's concurrent Binary reads and patches (Millennium's round trips)

    def __repr__(self) -> str:  # never print the key
        return f"MillenniumSettings({self.base_url!r}, client_id={self.client_id!r})"


def from_env(env) -> MillenniumSettings | None:
    """Read `MC_MILLENNIUM_*`; None when no base URL is configured. A missing credential is an error at start."""
    base = env.get("MC_MILLENNIUM_BASE_URL", "").strip()
    if not base:
        return None
    missing = [k for k in ("MC_MILLENNIUM_TOKEN_URL", "MC_MILLENNIUM_CLIENT_ID", "MC_MILLENNIUM_INTEGRATION_PRACTITIONER")
               if not env.get(k)]
    if not (env.get("MC_MILLENNIUM_PRIVATE_JWK") or env.get("MC_MILLENNIUM_PRIVATE_JWK_FILE")):
        missing.append("MC_MILLENNIUM_PRIVATE_JWK (or _FILE)")
    if missing:
        raise ValueError("MC_MILLENNIUM_BASE_URL is set but not " + ", ".join(missing))
    raw = env.get("MC_MILLENNIUM_PRIVATE_JWK") or Path(env["MC_MILLENNIUM_PRIVATE_JWK_FILE"]).read_text()
    jwk = json.loads(raw)
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC") or "d" not in jwk:
        raise ValueError("MC_MILLENNIUM_PRIVATE_JWK is not a private RSA or EC JWK")
    kwargs = {}
    for name, key in (("poll_seconds", "MC_MILLENNIUM_POLL_SECONDS"), ("overlap_seconds", "MC_MILLENNIUM_OVERLAP_SECONDS"),
                      ("first_window_seconds", "MC_MILLENNIUM_FIRST_WINDOW_SECONDS")):
        if env.get(key):
            kwargs[name] = float(env[key])
    if env.get("MC_MILLENNIUM_INBOUND_THREADS"):
        kwargs["inbound_threads"] = max(1, min(32, int(env["MC_MILLENNIUM_INBOUND_THREADS"])))
    for name, key in (("scopes", "MC_MILLENNIUM_SCOPES"), ("patient_system", "MC_MILLENNIUM_PATIENT_SYSTEM")):
        if env.get(key):
            kwargs[name] = env[key]
    return MillenniumSettings(base_url=base.rstrip("/"), token_url=env["MC_MILLENNIUM_TOKEN_URL"],
                              client_id=env["MC_MILLENNIUM_CLIENT_ID"], private_jwk=jwk,
                              integration_practitioner=env["MC_MILLENNIUM_INTEGRATION_PRACTITIONER"], **kwargs)
