"""Where a destination lives: configuration (`MC_DESTINATIONS`) or a FHIR `Endpoint` in the directory.

A destination's name is what an outbox row carries: a configured name (e.g. `journal`),
`Endpoint/<id>` (an Endpoint a shared inbox or its unit names), or an absolute URL that a
request named for its own answer (`$process-message`'s response-url), checked when it was given
and again by the outbound client. Credentials are never directory
data (a directory read would show them): an Endpoint's headers come from `MC_DESTINATIONS`
under its name, e.g. `{"Endpoint/kommun-a": {"headers": {"Authorization": "Bearer ..."}}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter.fhir import store

ENDPOINT_CONNECTION = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"


class DestinationUnavailable(Exception):
    """The destination is not configured, or its Endpoint is gone or not active (a permanent failure)."""


@dataclass(frozen=True)
class Destination:
    """A receiver's base URL and the headers (credentials) to send it."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # the receiver's own read timeout (a subscription's), at most the configured one

    def __repr__(self) -> str:  # never print credentials
        return f"Destination({self.name!r}, {self.url!r}, headers={sorted(self.headers)})"


def parse_configured(raw: dict) -> dict[str, dict]:
    """Check `MC_DESTINATIONS` at start: each entry has an optional `url` (required unless an Endpoint's) and string headers."""
    checked: dict[str, dict] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise ValueError(f"MC_DESTINATIONS[{name!r}] is not an object")
        url = entry.get("url")
        if url is None and not name.startswith("Endpoint/"):
            raise ValueError(f"MC_DESTINATIONS[{name!r}] needs a url")
        headers = entry.get("headers") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ValueError(f"MC_DESTINATIONS[{name!r}].headers are strings")
        checked[name] = {"url": url, "headers": dict(headers)}
    return checked


def resolve(session, *, name: str, configured: dict[str, dict], resolvers: dict | None = None) -> Destination:
    """The destination `name`, read now (an Endpoint changed since the row was written counts as changed)."""
    for prefix, resolver in (resolvers or {}).items():
        if name.startswith(prefix):
            return resolver(session, name)
    entry = configured.get(name, {})
    if name.startswith("Endpoint/"):
        stored = store.load_current(session, resource_type="Endpoint", resource_id=name.split("/", 1)[1])
        if stored is None:
            raise DestinationUnavailable(f"{name} does not exist")
        endpoint = stored.as_dict()
        if endpoint.get("status") != "active":
            raise DestinationUnavailable(f"{name} is {endpoint.get('status')}, not active")
        return Destination(name, endpoint["address"].rstrip("/"), entry.get("headers", {}))
    if name.startswith(("https://", "http://")):  # a per-message address, e.g. an asynchronous response-url
        return Destination(name, name, entry.get("headers", {}))
    if not entry.get("url"):
        raise DestinationUnavailable(f"destination {name!r} is not configured (MC_DESTINATIONS)")
    return Destination(name, entry["url"].rstrip("/"), entry.get("headers", {}))
