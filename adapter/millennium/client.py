"""Millennium's Communication API as the connector uses it (reference/millennium-communication.md).

Every call goes through the one outbound client (adapter/delivery/outbound.py) with a Backend
Services token; a 401 renews the token once and repeats the call. Failures become
`MillenniumError`, transient (retry later) or permanent, with a reason that names no content.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from adapter.delivery.outbound import AddressRefused, Answer, OutboundClient
from adapter.delivery.retry import TRANSIENT_STATUSES, parse_retry_after
from adapter.millennium.token import TokenSource, TokenUnavailable

FHIR_JSON = "application/fhir+json"
SEARCH_CAP = 1000  # Millennium returns at most this many entries for one date window


class MillenniumError(Exception):
    """A call to Millennium failed; `transient` says whether trying again later may succeed."""

    def __init__(self, reason: str, *, transient: bool, status: int | None = None, retry_after: float | None = None,
                 unanswered: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.status = status
        self.retry_after = retry_after
        # No answer came (timeout, dropped connection): Millennium may have done what was asked.
        self.unanswered = unanswered


@dataclass(frozen=True)
class Created:
    """A created Communication: Millennium's id and version (from `Location` and `ETag`)."""

    id: str
    version: str


class MillenniumClient:
    """Create, search, read Binaries, patch email-status, find patients by identifier."""

    def __init__(self, settings, client: OutboundClient, *, tokens: TokenSource | None = None, clock=time.monotonic):
        self.settings = settings
        self.base = settings.base_url.rstrip("/")
        self.http = client
        self.tokens = tokens or TokenSource(settings, client)
        self.clock = clock
        self._patients: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._patients_lock = threading.Lock()

    # -- the calls ----------------------------------------------------------------------------

    def create_communication(self, communication: dict, *, request_id: str) -> Created:
        """POST a Communication; Millennium answers 201 with an empty body and `Location`."""
        answer = self._call("POST", f"{self.base}/Communication", body=_json(communication),
                            headers={"Content-Type": FHIR_JSON, "X-Request-Id": request_id})
        location = answer.headers.get("Location") or answer.headers.get("location") or ""
        created_id = location.rstrip("/").split("/Communication/", 1)[-1].split("/", 1)[0] if "/Communication/" in location else ""
        if not created_id:
            raise MillenniumError("Millennium created the Communication without a Location", transient=False,
                                  status=answer.status)
        return Created(created_id, _version(answer.headers.get("ETag") or answer.headers.get("etag")))

    def search_communications(self, params: list[tuple[str, str]]) -> list[dict]:
        """One search (no paging beyond Millennium's window cap); the Communications found."""
        answer = self._call("GET", f"{self.base}/Communication?{urlencode(params)}")
        entries = _parse(answer).get("entry", [])
        if not isinstance(entries, list):
            raise MillenniumError("Millennium's search answer is not a Bundle of entries", transient=True, status=answer.status)
        resources = [e.get("resource") for e in entries if isinstance(e, dict)]
        return [r for r in resources if isinstance(r, dict) and r.get("resourceType") == "Communication"]

    def read_binary(self, reference: str) -> tuple[str, bytes]:
        """A payload's Binary (`Binary/<id>` or its absolute URL): (contentType, decoded bytes)."""
        binary_id = reference.rstrip("/").rsplit("Binary/", 1)[-1]
        if not binary_id or "/" in binary_id or "?" in binary_id:
            raise MillenniumError("the payload names no Binary", transient=False)
        resource = _parse(self._call("GET", f"{self.base}/Binary/{binary_id}"))
        try:
            return resource.get("contentType", ""), base64.b64decode(resource.get("data", ""), validate=True)
        except (ValueError, TypeError):
            raise MillenniumError("the Binary's data is not base64", transient=False) from None

    def patch_email_status(self, communication_id: str, *, version: str, status: str) -> None:
        """Replace the extension with the email-status one, under `If-Match` (Millennium's only patch)."""
        from adapter.millennium.mapping import email_status_patch

        self._call("PATCH", f"{self.base}/Communication/{communication_id}", body=_json(email_status_patch(status)),
                   headers={"Content-Type": "application/json-patch+json", "If-Match": f'W/"{version}"'})

    def find_patient(self, *, system: str, value: str) -> str | None:
        """Millennium's Patient id for an identifier (cached); None when Millennium does not know the patient."""
        key = (system, value)
        now = self.clock()
        with self._patients_lock:
            cached = self._patients.get(key)
            if cached is not None and cached[1] > now:
                return cached[0]
        bundle = _parse(self._call("GET", f"{self.base}/Patient?{urlencode({'identifier': f'{system}|{value}'})}"))
        ids = sorted({e["resource"]["id"] for e in bundle.get("entry", [])
                      if e.get("resource", {}).get("resourceType") == "Patient" and e["resource"].get("id")})
        if len(ids) > 1:
            raise MillenniumError("the personnummer names more than one Millennium patient", transient=False)
        found = ids[0] if ids else None
        with self._patients_lock:
            if len(self._patients) > 10_000:
                self._patients.clear()
            self._patients[key] = (found, now + self.settings.patient_cache_seconds)
        return found

    def patient_identifier(self, patient_id: str, *, system: str) -> str | None:
        """The identifier (e.g. personnummer) Millennium's Patient carries in `system`; None if it has none."""
        if not patient_id or "/" in patient_id or "?" in patient_id:
            raise MillenniumError("the subject names no Patient", transient=False)
        resource = _parse(self._call("GET", f"{self.base}/Patient/{patient_id}"))
        return next((i["value"] for i in resource.get("identifier", [])
                     if isinstance(i, dict) and i.get("system") == system and isinstance(i.get("value"), str)), None)

    # -- one request, with the token ----------------------------------------------------------

    def _call(self, method: str, url: str, *, body: bytes | None = None, headers: dict | None = None) -> Answer:
        for renewed in (False, True):
            try:
                token = self.tokens.token()
            except TokenUnavailable as exc:
                raise MillenniumError(str(exc), transient=exc.transient) from None
            sent = {"Accept": FHIR_JSON, **(headers or {}), "Authorization": f"Bearer {token}"}
            answer = self._send(method, url, body=body, headers=sent)
            if answer.status == 401 and not renewed:
                self.tokens.invalidate(token)
                continue
            if 200 <= answer.status < 300:
                return answer
            raise _refused(answer, method)
        raise MillenniumError("Millennium refused a fresh token (HTTP 401)", transient=False, status=401)

    def _send(self, method: str, url: str, *, body, headers) -> Answer:
        try:
            return self.http.request(method, url, body=body, headers=headers)
        except AddressRefused as exc:
            raise MillenniumError(str(exc), transient=False) from None
        except requests.exceptions.SSLError:
            raise MillenniumError("TLS error (certificate or handshake)", transient=True) from None
        except requests.exceptions.Timeout:
            raise MillenniumError("timeout", transient=True, unanswered=True) from None
        except requests.exceptions.ConnectionError:
            raise MillenniumError("connection failed or dropped", transient=True, unanswered=True) from None
        except requests.exceptions.RequestException as exc:
            raise MillenniumError(f"request not sendable ({type(exc).__name__})", transient=False) from None


def _json(resource: dict) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()


def _parse(answer: Answer) -> dict:
    if answer.truncated:
        raise MillenniumError("Millennium's answer is over the size limit", transient=False, status=answer.status)
    try:
        parsed = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        raise MillenniumError("Millennium's answer is not JSON", transient=True, status=answer.status) from None
    if not isinstance(parsed, dict):
        raise MillenniumError("Millennium's answer is not a resource", transient=True, status=answer.status)
    return parsed


def _version(etag: str | None) -> str:
    """`W/"3"` -> `3` (Millennium's versions start at 0)."""
    return (etag or 'W/"0"').removeprefix("W/").strip('"') or "0"


def _refused(answer: Answer, method: str) -> MillenniumError:
    from datetime import datetime, timezone

    status = answer.status
    if status in TRANSIENT_STATUSES:
        return MillenniumError(f"HTTP {status}", transient=True, status=status,
                               retry_after=parse_retry_after(answer.headers.get("Retry-After"), now=datetime.now(timezone.utc)))
    if 300 <= status < 400:
        return MillenniumError(f"HTTP {status}: redirects are not followed", transient=False, status=status)
    if status == 412:
        return MillenniumError("HTTP 412: the version changed (If-Match)", transient=True, status=status)
    return MillenniumError(f"HTTP {status}: Millennium refused the {method}", transient=False, status=status)
