"""The Subscriptions R5 Backport IG (STU 1.1) in its R4 representation: pure functions, no I/O.

A request is an R4 `Subscription` whose `criteria` is our topic's canonical, with the filter in
`_criteria`'s `backport-filter-criteria` extension (`Task?owner=...&code=...&status=...`) and the
channel's details in the backport's extensions. Notifications are Bundles of type `history` whose
first entry is the `backport-subscription-status-r4` Parameters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from adapter.identifiers import BASE

TOPIC = f"{BASE}/SubscriptionTopic/inbox-item"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER_CRITERIA = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/backport-heartbeat-period"
TIMEOUT = f"{BACKPORT}/backport-timeout"
MAX_COUNT = f"{BACKPORT}/backport-max-count"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"
TOPIC_CAPABILITY = f"{BACKPORT}/capabilitystatement-subscriptiontopic-canonical"
SERVER_CAPABILITY = "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4"
CONTENTS = ("empty", "id-only", "full-resource")
FILTERS = ("owner", "code", "status")  # the topic's filters; `owner` is required
DEFAULT_MAX_COUNT = 50
LIMITS = {"heartbeat": (10, 86400), "timeout": (1, 60), "max-count": (1, 500)}


class Invalid(ValueError):
    """The request is not one we accept: what and where (422)."""

    def __init__(self, message: str, expression: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.code = code


@dataclass(frozen=True)
class Requested:
    """A Subscription request, read."""

    owner: str
    codes: tuple[str, ...]
    statuses: tuple[str, ...]
    endpoint: str
    headers: dict[str, str]
    content: str
    heartbeat_seconds: int | None
    timeout_seconds: int | None
    max_count: int


def _extension(element: dict | None, url: str) -> list[dict]:
    return [e for e in (element or {}).get("extension", []) if isinstance(e, dict) and e.get("url") == url]


def _one_value(element: dict | None, url: str, key: str, expression: str):
    found = _extension(element, url)
    if len(found) > 1:
        raise Invalid(f"at most one {url.rsplit('/', 1)[1]} extension", expression)
    return found[0].get(key) if found else None


def _bounded(value, name: str, expression: str) -> int | None:
    if value is None:
        return None
    low, high = LIMITS[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid(f"{name} is a whole number from {low} to {high}", expression)
    return value


def parse_filters(criteria_element: dict | None) -> dict[str, list[str]]:
    """The topic filters of `_criteria`'s backport-filter-criteria extensions, by name."""
    filters: dict[str, list[str]] = {}
    for position, ext in enumerate(_extension(criteria_element, FILTER_CRITERIA)):
        value = ext.get("valueString")
        where = f"Subscription.criteria.extension[{position}]"
        if not isinstance(value, str) or not value.startswith("Task?"):
            raise Invalid("a filter is `Task?` followed by the topic's filters (owner, code, status)", where)
        for name, raw in parse_qsl(value[len("Task?"):], keep_blank_values=True):
            if name not in FILTERS:
                raise Invalid(f"the topic has no filter '{name}' (its filters: {', '.join(FILTERS)})", where)
            values = [v.strip() for v in raw.split(",") if v.strip()]
            if not values:
                raise Invalid(f"the filter '{name}' has no value", where)
            filters.setdefault(name, []).extend(values)
    return filters


def _headers(channel: dict) -> dict[str, str]:
    headers: dict[str, str] = {}
    for position, header in enumerate(channel.get("header") or []):
        name, sep, value = header.partition(":") if isinstance(header, str) else ("", "", "")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
            raise Invalid("a header is 'Name: value' on one line", f"Subscription.channel.header[{position}]")
        if name.lower() in ("content-type", "content-length", "host"):
            raise Invalid(f"the header {name} is the adapter's to set", f"Subscription.channel.header[{position}]")
        headers[name] = value.strip()
    return headers


def read_request(resource: dict) -> Requested:
    """The Subscription request's topic, filter and channel, or `Invalid` naming what is wrong."""
    if resource.get("criteria") != TOPIC:
        raise Invalid(f"unknown topic: criteria is the topic's canonical ({TOPIC})", "Subscription.criteria", "not-supported")
    if resource.get("status") not in (None, "requested"):
        raise Invalid("a new subscription is requested (status requested)", "Subscription.status")
    filters = parse_filters(resource.get("_criteria"))
    owners = filters.get("owner", [])
    if len(owners) != 1:
        raise Invalid("the filter names exactly one inbox: owner=Practitioner/<id> or HealthcareService/<id>",
                      "Subscription.criteria.extension", "required")
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise Invalid("the channel is rest-hook (the only one offered)", "Subscription.channel.type", "not-supported")
    if channel.get("payload") != "application/fhir+json":
        raise Invalid("the payload is application/fhir+json", "Subscription.channel.payload", "not-supported")
    content = _one_value(channel.get("_payload"), PAYLOAD_CONTENT, "valueCode", "Subscription.channel.payload") or "id-only"
    if content not in CONTENTS:
        raise Invalid(f"the payload content is one of {', '.join(CONTENTS)}", "Subscription.channel.payload.extension",
                      "not-supported")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise Invalid("a rest-hook needs an endpoint", "Subscription.channel.endpoint", "required")
    max_count = _bounded(_one_value(channel, MAX_COUNT, "valuePositiveInt", "Subscription.channel"), "max-count",
                         "Subscription.channel.extension")
    return Requested(
        owner=owners[0], codes=tuple(dict.fromkeys(filters.get("code", []))),
        statuses=tuple(dict.fromkeys(filters.get("status", []))), endpoint=endpoint, headers=_headers(channel),
        content=content,
        heartbeat_seconds=_bounded(_one_value(channel, HEARTBEAT_PERIOD, "valueUnsignedInt", "Subscription.channel"),
                                   "heartbeat", "Subscription.channel.extension"),
        timeout_seconds=_bounded(_one_value(channel, TIMEOUT, "valueUnsignedInt", "Subscription.channel"), "timeout",
                                 "Subscription.channel.extension"),
        max_count=max_count or DEFAULT_MAX_COUNT,
    )


def without_secrets(resource: dict) -> dict:
    """The resource as stored and served: the channel's headers are secrets and never leave."""
    stored = dict(resource)
    channel = dict(stored.get("channel") or {})
    channel.pop("header", None)
    stored["channel"] = channel
    return stored


@dataclass(frozen=True)
class Event:
    """One event: its number, when, and the item (its Task, or None when the subscriber may not see it any more)."""

    number: int
    at: str  # instant
    task_id: str
    task: dict | None = None


def status_parameters(*, base: str, subscription_id: str, status: str, kind: str, events_since: int,
                      events: list[Event] = (), content: str = "id-only", error: str | None = None) -> dict:
    """The backport's SubscriptionStatus, as R4 Parameters."""
    parameters = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{subscription_id}"}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since)},
    ]
    for event in events:
        part = [{"name": "event-number", "valueString": str(event.number)},
                {"name": "timestamp", "valueInstant": event.at}]
        if content != "empty":
            part.append({"name": "focus", "valueReference": {"reference": f"{base}/Task/{event.task_id}"}})
        parameters.append({"name": "notification-event", "part": part})
    if error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": error}})
    status_id = str(uuid.uuid4())
    return {"resourceType": "Parameters", "id": status_id, "meta": {"profile": [STATUS_PROFILE]}, "parameter": parameters}


def notification(*, base: str, subscription_id: str, status: str, kind: str, events_since: int, events: list[Event],
                 content: str, timestamp: str, error: str | None = None) -> dict:
    """A notification Bundle (`history`): the status first, then (id-only, full-resource) the foci."""
    parameters = status_parameters(base=base, subscription_id=subscription_id, status=status, kind=kind,
                                   events_since=events_since, events=events, content=content, error=error)
    entries = [{"fullUrl": f"urn:uuid:{parameters['id']}", "resource": parameters,
                "request": {"method": "GET", "url": f"{base}/Subscription/{subscription_id}/$status"},
                "response": {"status": "200"}}]
    if content != "empty":
        for event in events:
            entry = {"fullUrl": f"{base}/Task/{event.task_id}",
                     "request": {"method": "PUT", "url": f"Task/{event.task_id}"}, "response": {"status": "200"}}
            if content == "full-resource" and event.task is not None:
                entry["resource"] = event.task
            entries.append(entry)
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"profile": [NOTIFICATION_PROFILE]},
            "type": "history", "timestamp": timestamp, "entry": entries}


CROSS_VERSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"


def topic_as_basic(base_url: str) -> list[dict]:
    """Our SubscriptionTopic in R4, as the backport represents it there: a Basic with R5 cross-version extensions."""
    def ext(name: str, **value) -> dict:
        return {"url": f"{CROSS_VERSION}.{name}", **value}

    filters = [("owner", "The inbox (Practitioner/<id> or HealthcareService/<id>); required, one"),
               ("code", "The item kind (item-kind codes, comma-separated)"),
               ("status", "The Task status (task-status codes, comma-separated)")]
    return [{
        "resourceType": "Basic", "id": "inbox-item",
        "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]},
        "extension": [
            ext("url", valueUri=TOPIC),
            ext("version", valueString="1"),
            ext("title", valueString="Inbox item"),
            ext("status", valueCode="active"),
            ext("description", valueMarkdown="An item (Task) created or changed in an inbox. Events are numbered in "
                                             "the order their changes committed."),
            {"url": f"{CROSS_VERSION}.resourceTrigger", "extension": [
                {"url": "description", "valueMarkdown": "A Task of an inbox is created or changes"},
                {"url": "resource", "valueUri": "http://hl7.org/fhir/StructureDefinition/Task"},
                {"url": "supportedInteraction", "valueCode": "create"},
                {"url": "supportedInteraction", "valueCode": "update"}]},
            *({"url": f"{CROSS_VERSION}.canFilterBy", "extension": [
                {"url": "description", "valueMarkdown": text},
                {"url": "resource", "valueUri": "Task"},
                {"url": "filterParameter", "valueString": name}]} for name, text in filters),
            {"url": f"{CROSS_VERSION}.notificationShape", "extension": [
                {"url": "resource", "valueUri": "Task"}]},
        ],
    }]
