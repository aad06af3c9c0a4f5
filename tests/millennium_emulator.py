"""A Millennium emulator: the Communication API contract of reference/millennium-communication.md, enforced.

A small Flask app with the tenant's FHIR base at `/r4` and a SMART Backend Services token
endpoint at `/token`. It refuses what Millennium refuses (400/422 with an OperationOutcome),
answers a create with an empty 201, `Location` and `ETag`, caps a search window at 1,000,
serves payloads as `Binary`, takes the email-status patch under `If-Match`, and injects faults
on demand. It runs as a real server (`serve()`, for e2e tests and the benchmark) or behind
`responses` (`mock()`, for unit tests); the adapter cannot tell either from Millennium.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import jwt
from flask import Flask, Response, request
from werkzeug.serving import make_server

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
SNOMED = "http://snomed.info/sct"
TASK_STATUS = "http://hl7.org/fhir/task-status"
REPLY_TO = "https://fhir-ehr.cerner.com/r4/StructureDefinition/reply-to"
EMAIL_STATUS = "https://fhir-ehr.cerner.com/r4/StructureDefinition/email-status"
XHTML_SKELETON = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                  '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">')
CONTENT_TYPES = {f"{t}{c}" for t in ("text/plain", "application/xhtml+xml") for c in ("", ";charset=utf-8", ";charset=us-ascii")}
CREATE_FIELDS = {"resourceType", "status", "category", "priority", "subject", "topic", "encounter", "recipient", "sender",
                 "payload", "extension"}
SEARCH_CAP = 1000
FAULTS = ("500", "503", "429", "timeout", "timeout-after-store", "drop-after-store", "expire-token")


def _outcome(status: int, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": text}]}
    return Response(json.dumps(body), status=status, mimetype="application/fhir+json")


def _instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_date(value: str) -> datetime:
    if "T" not in value:
        raise ValueError("received is searched with a time component")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("received is searched with a time zone")
    return parsed


@dataclass
class Stored:
    """A Communication as Millennium keeps it."""

    id: str
    resource: dict
    received: datetime
    binary_id: str
    version: int = 0
    email_status: str = "received"


@dataclass
class Fault:
    operation: str  # "create", "search", "binary", "patch", "patient", "token", "any"
    kind: str
    remaining: int = 1


@dataclass
class Counters:
    creates: int = 0
    refused: int = 0
    searches: int = 0
    patches: int = 0
    tokens: int = 0
    binaries: int = 0
    faults: dict = field(default_factory=dict)


class MillenniumEmulator:
    """One tenant: its users, pools, patients, Communications and Binaries, in memory (thread-safe)."""

    def __init__(self, *, client_id: str, public_jwk: dict, token_lifetime: int = 570, sleep_seconds: float = 3.0,
                 clock=None):
        self.client_id = client_id
        self.public_jwk = public_jwk
        self.token_lifetime = token_lifetime
        self.sleep_seconds = sleep_seconds  # how long a "timeout" fault keeps the client waiting
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.practitioners: set[str] = set()
        self.groups: set[str] = set()
        self.patients: dict[tuple[str, str], str] = {}
        self.communications: dict[str, Stored] = {}
        self.binaries: dict[str, tuple[str, str]] = {}
        self.tokens: dict[str, float] = {}
        self.faults: deque[Fault] = deque()
        self.counters = Counters()
        self._lock = threading.RLock()
        self._sequence = 472894780
        self.base_url = "http://millennium.invalid"  # set by serve() or mock()
        self.app = self._make_app()
        self._server = None
        self.mocked = False

    # -- the tenant's data ------------------------------------------------------------------------

    def add_practitioner(self, millennium_id: str) -> None:
        self.practitioners.add(millennium_id)

    def add_group(self, millennium_id: str) -> None:
        self.groups.add(millennium_id)

    def add_patient(self, *, system: str, value: str, millennium_id: str) -> None:
        self.patients[(system, value)] = millennium_id

    def inject(self, operation: str, kind: str, *, times: int = 1) -> None:
        """The next `times` calls of `operation` fail as `kind` (see FAULTS)."""
        assert kind in FAULTS, kind
        with self._lock:
            self.faults.append(Fault(operation, kind, times))

    def write(self, *, sender: str, recipients: list[str], text: str, category: str = "notification",
              reply_to: str | None = None, in_response_to: str | None = None, received: datetime | None = None,
              topic: str | None = None, subject: str | None = None, priority: str = "routine") -> str:
        """A Millennium user writes a message (as Millennium's own client would); its id."""
        resource = {"resourceType": "Communication", "status": "completed",
                    "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}], "priority": priority,
                    "recipient": [{"reference": r} for r in recipients], "sender": {"reference": f"Practitioner/{sender}"},
                    "payload": [{"contentAttachment": {"contentType": "text/plain;charset=utf-8",
                                                       "data": base64.b64encode(text.encode()).decode()}}]}
        if topic:
            resource["topic"] = {"text": topic}
        if subject:
            resource["subject"] = {"reference": f"Patient/{subject}"}
        if reply_to:
            resource["extension"] = [{"url": REPLY_TO, "valueReference": {"reference": f"Group/{reply_to}"}}]
        if in_response_to:
            resource["inResponseTo"] = [{"reference": f"Communication/{in_response_to}"}]
        with self._lock:
            return self._store(resource, received=received).id

    def stored(self) -> list[dict]:
        """Every Communication as a search would return it, oldest first."""
        with self._lock:
            return [self._as_found(s) for s in sorted(self.communications.values(), key=lambda s: s.received)]

    def text_of(self, communication_id: str) -> str:
        stored = self.communications[communication_id]
        return base64.b64decode(self.binaries[stored.binary_id][1]).decode()

    def _next_id(self) -> str:
        self._sequence += 1
        return f"{self._sequence}.0.-4.0"

    def _store(self, resource: dict, *, received: datetime | None = None) -> Stored:
        communication_id = self._next_id()
        attachment = resource["payload"][0]["contentAttachment"]
        binary_id = f"XR-{communication_id}"
        self.binaries[binary_id] = (attachment["contentType"], attachment["data"])
        now = received or self.clock()
        stored = Stored(communication_id, {**resource, "sent": _instant(now)}, now, binary_id)
        self.communications[communication_id] = stored
        return stored

    def _as_found(self, stored: Stored) -> dict:
        found = {k: v for k, v in stored.resource.items() if k not in ("payload", "extension")}
        found.update({"id": stored.id, "meta": {"versionId": str(stored.version)}, "received": _instant(stored.received),
                      "payload": [{"contentReference": {"reference": f"{self.base_url}/r4/Binary/{stored.binary_id}"}}],
                      "extension": [{"url": EMAIL_STATUS, "valueCodeableConcept": {
                          "coding": [{"system": TASK_STATUS, "code": stored.email_status}]}}]
                      + [e for e in stored.resource.get("extension", []) if e.get("url") == REPLY_TO]})
        return found

    # -- faults -----------------------------------------------------------------------------------

    def _take_fault(self, operation: str) -> str | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.operation in (operation, "any"):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    self.counters.faults[fault.kind] = self.counters.faults.get(fault.kind, 0) + 1
                    return fault.kind
        return None

    def _fault_before(self, kind: str | None) -> Response | None:
        if kind == "500":
            return _outcome(500, "internal error (injected)")
        if kind == "503":
            response = _outcome(503, "unavailable (injected)")
            response.headers["Retry-After"] = "30"
            return response
        if kind == "429":
            response = _outcome(429, "too many requests (injected)")
            response.headers["Retry-After"] = "5"
            return response
        if kind == "timeout":
            self._wait_too_long()
            return _outcome(503, "answered too late")
        if kind == "expire-token":
            with self._lock:
                self.tokens.clear()
        return None

    def _wait_too_long(self) -> None:
        """Longer than the client waits: a real server sleeps; behind `responses` the client times out at once."""
        if self.mocked:
            raise TimeoutError("no answer in time (injected)")
        time.sleep(self.sleep_seconds)

    def _fault_after(self, kind: str | None, response: Response) -> Response:
        """Faults that hit after the work was done: the answer is lost."""
        if kind == "timeout-after-store":
            self._wait_too_long()
        elif kind == "drop-after-store":
            sock = request.environ.get("werkzeug.socket")
            if sock is not None:  # a real server: the connection goes away without an answer
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            raise ConnectionAbortedError("dropped after storing (injected)")
        return response

    # -- the HTTP app ----------------------------------------------------------------------------

    def _admit(self, operation: str) -> tuple[str | None, Response | None]:
        """The fault injected for this call (if any), and the answer that ends it early: a fault, or 401."""
        fault = self._take_fault(operation)
        early = self._fault_before(fault)
        if early is None and not self._authorised():
            early = _outcome(401, "invalid or expired token")
        return fault, early

    def _authorised(self) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        with self._lock:
            expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    def _make_app(self) -> Flask:
        app = Flask("millennium-emulator")
        app.config["PROPAGATE_EXCEPTIONS"] = True  # a dropped connection must stay dropped, not become a 500
        app.add_url_rule("/token", "token", self._token, methods=["POST"])
        app.add_url_rule("/r4/Communication", "create", self._create, methods=["POST"])
        app.add_url_rule("/r4/Communication", "search", self._search, methods=["GET"])
        app.add_url_rule("/r4/Communication/<cid>", "patch", self._patch, methods=["PATCH"])
        app.add_url_rule("/r4/Communication/<cid>", "read", self._read, methods=["GET"])
        app.add_url_rule("/r4/Binary/<bid>", "binary", self._binary, methods=["GET"])
        app.add_url_rule("/r4/Patient", "patient", self._patient, methods=["GET"])
        app.add_url_rule("/r4/Patient/<pid>", "patient-read", self._patient_read, methods=["GET"])
        return app

    def _token(self):
        fault = self._take_fault("token")
        early = self._fault_before(fault)
        if early is not None:
            return early
        form = request.form
        if form.get("grant_type") != "client_credentials" or form.get(
                "client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return Response(json.dumps({"error": "invalid_request"}), status=400, mimetype="application/json")
        try:
            algorithm = "ES384" if self.public_jwk["kty"] == "EC" else "RS384"
            key = jwt.PyJWK(self.public_jwk, algorithm=algorithm).key
            claims = jwt.decode(form.get("client_assertion", ""), key, algorithms=[algorithm],
                                audience=f"{self.base_url}/token", options={"require": ["exp", "iss", "sub", "jti", "aud"]})
        except jwt.PyJWTError:
            return Response(json.dumps({"error": "invalid_client"}), status=401, mimetype="application/json")
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return Response(json.dumps({"error": "invalid_client"}), status=401, mimetype="application/json")
        token = base64.urlsafe_b64encode(json.dumps([claims["jti"], time.monotonic()]).encode()).decode()
        with self._lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
            self.counters.tokens += 1
        return Response(json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime,
                                    "scope": form.get("scope", "")}), mimetype="application/json")

    def _create(self):
        fault, refused = self._admit("create")
        if refused is not None:
            return refused
        if (request.content_type or "").split(";")[0] != "application/fhir+json":
            return _outcome(415, "Content-Type must be application/fhir+json")
        try:
            resource = json.loads(request.get_data())
        except ValueError:
            return _outcome(400, "the body is not JSON")
        problem = self._contract_problem(resource)
        if problem:
            with self._lock:
                self.counters.refused += 1
            return _outcome(422, problem)
        with self._lock:
            stored = self._store(resource)
            self.counters.creates += 1
        response = Response(status=201, headers={"Location": f"{self.base_url}/r4/Communication/{stored.id}",
                                                 "ETag": 'W/"0"'})
        return self._fault_after(fault, response)

    def _contract_problem(self, resource: dict) -> str | None:
        """What Millennium would refuse in a create, or None."""
        if not isinstance(resource, dict) or resource.get("resourceType") != "Communication":
            return "resourceType must be Communication"
        unknown = sorted(set(resource) - CREATE_FIELDS)
        if unknown:
            return f"unsupported fields: {', '.join(unknown)}"
        if resource.get("status") != "completed":
            return "status must be completed"
        categories = resource.get("category")
        if not isinstance(categories, list) or len(categories) != 1:
            return "exactly one category is required"
        codings = categories[0].get("coding") or []
        if len(codings) != 1 or codings[0].get("system") not in (CATEGORY_SYSTEM, SNOMED) or not codings[0].get("code"):
            return "category is one coding from communication-category or SNOMED CT"
        if resource.get("priority") not in (None, "routine", "urgent"):
            return "priority is routine or urgent"
        subject = resource.get("subject")
        if subject is not None:
            reference = subject.get("reference", "") if isinstance(subject, dict) else ""
            if set(subject) != {"reference"} or not reference.startswith("Patient/"):
                return "subject is only Patient/<id>"
            if reference.split("/", 1)[1] not in set(self.patients.values()):
                return "subject: unknown patient"
        topic = resource.get("topic")
        if topic is not None and (not isinstance(topic, dict) or set(topic) != {"text"} or not isinstance(topic["text"], str)):
            return "topic is free text only"
        if "encounter" in resource and subject is None:
            return "encounter requires subject"
        recipients = resource.get("recipient")
        if not isinstance(recipients, list) or not recipients:
            return "at least one recipient is required"
        for recipient in recipients:
            kind, _, rid = (recipient.get("reference", "") if isinstance(recipient, dict) else "").partition("/")
            if kind == "Practitioner" and rid in self.practitioners or kind == "Group" and rid in self.groups:
                continue
            return f"recipient {kind}/{rid} is not a known Practitioner or Group"
        sender = resource.get("sender") or {}
        kind, _, sid = sender.get("reference", "").partition("/") if isinstance(sender, dict) else ("", "", "")
        if kind != "Practitioner" or sid not in self.practitioners:
            return "sender must be a known Practitioner"
        payload = resource.get("payload")
        if not isinstance(payload, list) or len(payload) != 1 or set(payload[0]) != {"contentAttachment"}:
            return "payload is exactly one contentAttachment"
        attachment = payload[0]["contentAttachment"]
        content_type = (attachment.get("contentType") or "").replace(" ", "").lower()
        if content_type not in CONTENT_TYPES:
            return "contentType is text/plain or application/xhtml+xml"
        try:
            decoded = base64.b64decode(attachment.get("data", ""), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "data is base64 text"
        if not decoded:
            return "data is empty"
        if content_type.startswith("application/xhtml+xml") and not (
                XHTML_SKELETON in decoded and "<html" in decoded and "<body" in decoded):
            return "XHTML must be a complete XHTML 1.0 Transitional document"
        for extension in resource.get("extension", []):
            if extension.get("url") != REPLY_TO:
                return f"unsupported extension {extension.get('url')}"
            if not (extension.get("valueReference") or {}).get("reference", "").startswith("Group/"):
                return "reply-to must be a Group"
        return None

    def _search(self):
        fault, refused = self._admit("search")
        if refused is not None:
            return refused
        pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        names = [name for name, _ in pairs]
        with self._lock:
            self.counters.searches += 1
            if names == ["_id"]:
                found = [s for s in [self.communications.get(pairs[0][1])] if s is not None]
                return self._bundle(found)
            recipient_names = [n for n in names if n in ("recipient:Group", "recipient:Practitioner")]
            if (names.count("category") != 1 or len(recipient_names) != 1 or names.count("-email-status") != 1
                    or names.count("received") not in (1, 2) or set(names) - {"category", "received", "-email-status", *recipient_names}):
                return _outcome(400, "search by _id, or by category, recipient:Group|Practitioner, received and -email-status")
            values = {n: [v for k, v in pairs if k == n] for n in set(names)}
            try:
                bounds = [(v[:2], _parse_date(v[2:])) for v in values["received"]]
            except ValueError as exc:
                return _outcome(400, str(exc))
            if any(prefix not in ("ge", "le") for prefix, _ in bounds) or len({p for p, _ in bounds}) != len(bounds):
                return _outcome(400, "received is ge, or ge and le")
            status_system, _, status = values["-email-status"][0].rpartition("|")
            if status_system != TASK_STATUS:
                return _outcome(400, "-email-status is a task-status token")
            recipient = values[recipient_names[0]][0]
            if "/" not in recipient:
                recipient = f"{recipient_names[0].split(':')[1]}/{recipient}"
            category = values["category"][0].rpartition("|")[2]
            matches = []
            for stored in sorted(self.communications.values(), key=lambda s: s.received):
                resource = stored.resource
                if stored.email_status != status or resource["category"][0]["coding"][0]["code"] != category:
                    continue
                if recipient not in [r["reference"] for r in resource["recipient"]]:
                    continue
                if all(stored.received >= when if p == "ge" else stored.received <= when for p, when in bounds):
                    matches.append(stored)
            return self._bundle(matches[:SEARCH_CAP])

    def _bundle(self, stored: list[Stored]) -> Response:
        body = {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"fullUrl": f"{self.base_url}/r4/Communication/{s.id}", "resource": self._as_found(s)} for s in stored]}
        if not body["entry"]:
            del body["entry"]
        return Response(json.dumps(body), mimetype="application/fhir+json")

    def _read(self, cid: str):
        if not self._authorised():
            return _outcome(401, "invalid or expired token")
        with self._lock:
            stored = self.communications.get(cid)
            if stored is None:
                return _outcome(404, "no such Communication")
            return Response(json.dumps(self._as_found(stored)), mimetype="application/fhir+json",
                            headers={"ETag": f'W/"{stored.version}"'})

    def _binary(self, bid: str):
        fault, refused = self._admit("binary")
        if refused is not None:
            return refused
        with self._lock:
            self.counters.binaries += 1
            found = self.binaries.get(bid)
        if found is None:
            return _outcome(404, "no such Binary")
        return Response(json.dumps({"resourceType": "Binary", "id": bid, "contentType": found[0], "data": found[1]}),
                        mimetype="application/fhir+json")

    def _patch(self, cid: str):
        fault, refused = self._admit("patch")
        if refused is not None:
            return refused
        if (request.content_type or "") != "application/json-patch+json":
            return _outcome(415, "Content-Type must be application/json-patch+json")
        if_match = request.headers.get("If-Match")
        if not if_match:
            return _outcome(428, "If-Match is required")
        try:
            operations = json.loads(request.get_data())
        except ValueError:
            return _outcome(400, "the body is not JSON")
        statuses = _email_status_of(operations)
        if statuses is None:
            return _outcome(422, "only replace of /extension with the email-status extension is supported")
        with self._lock:
            stored = self.communications.get(cid)
            if stored is None:
                return _outcome(404, "no such Communication")
            if if_match != f'W/"{stored.version}"':
                return _outcome(412, "the version does not match")
            stored.email_status = statuses
            stored.version += 1
            self.counters.patches += 1
            version = stored.version
        return self._fault_after(fault, Response(status=200, headers={"ETag": f'W/"{version}"'}))

    def _patient(self):
        fault, refused = self._admit("patient")
        if refused is not None:
            return refused
        identifier = request.args.get("identifier", "")
        system, _, value = identifier.rpartition("|")
        found = self.patients.get((system, value))
        entries = [{"resource": {"resourceType": "Patient", "id": found}}] if found else []
        body = {"resourceType": "Bundle", "type": "searchset", **({"entry": entries} if entries else {})}
        return Response(json.dumps(body), mimetype="application/fhir+json")

    def _patient_read(self, pid: str):
        fault, refused = self._admit("patient")
        if refused is not None:
            return refused
        identifiers = [{"system": system, "value": value} for (system, value), found in self.patients.items() if found == pid]
        if not identifiers:
            return _outcome(404, "no such Patient")
        return Response(json.dumps({"resourceType": "Patient", "id": pid, "identifier": identifiers}),
                        mimetype="application/fhir+json")

    # -- running ---------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1") -> str:
        """Start a real threaded server on a free port; its base (the tenant is at `<base>/r4`)."""
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request would be most of the benchmark's time
        self._server = make_server(host, 0, self.app, threaded=True)
        self.base_url = f"http://{host}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="millennium-emulator", daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def mock(self, mocked, base_url: str = "https://millennium.example.test") -> str:
        """Answer through a `responses` mock: each request goes to the app; dropped answers raise as requests would."""
        import re

        import requests

        self.base_url = base_url
        self.mocked = True
        test_client = self.app.test_client()

        def answer(prepared):
            parts = urlsplit(prepared.url)
            body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
            try:
                result = test_client.open(parts.path, method=prepared.method, query_string=parts.query, data=body,
                                          headers=dict(prepared.headers))
            except ConnectionAbortedError:
                raise requests.exceptions.ConnectionError("connection dropped") from None
            except TimeoutError:
                raise requests.exceptions.ReadTimeout("read timed out") from None
            return result.status_code, dict(result.headers), result.get_data()

        pattern = re.compile(re.escape(base_url) + r"/.*")
        for method in ("GET", "POST", "PATCH"):
            mocked.add_callback(method, pattern, callback=answer)
        return base_url


def _email_status_of(operations) -> str | None:
    """The status of a valid email-status patch, or None."""
    if not isinstance(operations, list) or len(operations) != 1:
        return None
    operation = operations[0]
    if not isinstance(operation, dict) or operation.get("op") != "replace" or operation.get("path") != "/extension":
        return None
    value = operation.get("value")
    if not isinstance(value, list) or len(value) != 1 or value[0].get("url") != EMAIL_STATUS:
        return None
    codings = (value[0].get("valueCodeableConcept") or {}).get("coding") or []
    if len(codings) != 1 or codings[0].get("system") != TASK_STATUS:
        return None
    code = codings[0].get("code")
    return code if code in ("received", "in-progress", "completed") else None


def key_pair(kind: str = "RSA") -> tuple[dict, dict]:
    """A fresh (private JWK, public JWK) for the connector's client assertion."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    if kind == "EC":
        private = ec.generate_private_key(ec.SECP384R1())
        private_jwk = json.loads(ECAlgorithm.to_jwk(private))
        public_jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_jwk = json.loads(RSAAlgorithm.to_jwk(private))
        public_jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    private_jwk["kid"] = public_jwk["kid"] = "mc-adapter-1"
    return private_jwk, public_jwk


def then(seconds: float) -> datetime:
    """An instant `seconds` from now (tests' received times)."""
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)
