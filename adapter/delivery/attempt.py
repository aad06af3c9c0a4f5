"""One delivery attempt over HTTP, turned into an `Attempted` whatever happens (never an exception)."""

from __future__ import annotations

import json
from datetime import datetime

import requests

from adapter.delivery.outbound import AddressRefused, OutboundClient
from adapter.delivery.retry import DELIVERED, PERMANENT, TRANSIENT, Attempted, classify_status, parse_retry_after


def post_json(client: OutboundClient, url: str, *, body: bytes, headers: dict[str, str], now: datetime,
              timeout: float | None = None) -> Attempted:
    """POST a JSON body; classify the answer or the failure. Reasons name no content, only what went wrong."""
    try:
        answer = client.post(url, body=body, headers=headers, timeout=timeout)
    except AddressRefused as exc:
        return Attempted(PERMANENT, str(exc))
    except requests.exceptions.SSLError:
        return Attempted(TRANSIENT, "TLS error (certificate or handshake)")
    except requests.exceptions.Timeout:
        return Attempted(TRANSIENT, "timeout")
    except requests.exceptions.ConnectionError:
        return Attempted(TRANSIENT, "connection failed or dropped")
    except requests.exceptions.RequestException as exc:
        return Attempted(PERMANENT, f"request not sendable ({type(exc).__name__})")
    attempted = classify_status(answer.status, retry_after=parse_retry_after(answer.headers.get("Retry-After"), now=now))
    if attempted.outcome == DELIVERED:
        note = _body_note(answer.body, answer.truncated)
        if note:
            return Attempted(DELIVERED, f"{attempted.reason} ({note})", answer.status)
    return attempted


def post_entry(client: OutboundClient, url: str, *, entry, destination, now: datetime,
               headers: dict[str, str] | None = None) -> Attempted:
    """POST an outbox entry's JSON payload with the destination's credentials and the row id as `X-Request-Id`."""
    sent = {**destination.headers, "Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
            "X-Request-Id": entry.id, **(headers or {})}
    body = json.dumps(entry.payload, ensure_ascii=False, separators=(",", ":")).encode()
    return post_json(client, url, body=body, headers=sent, now=now)


def _body_note(body: bytes, truncated: bool) -> str | None:
    if truncated:
        return "answer body over the size limit, not read"
    if not body.strip():
        return None
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "answer body is not JSON"
    return None
