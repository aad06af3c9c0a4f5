"""Subscriptions: created (checked, its secrets kept apart), read by their subscriber, their status kept.

A subscription's events are numbered by the notifier (adapter/subscriptions/notifier.py); its
notifications leave through the outbox, so the outbox's retries, back-off and dead letters are
theirs, and its status follows what the deliveries do: `requested` until the handshake is
answered 2xx, `active`, `error` after repeated failures (recovered by the next success), `off`.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from sqlalchemy import exists, insert, select, update

from adapter.auth import visibility
from adapter.auth.caller import Caller
from adapter.delivery.attempt import post_json
from adapter.delivery.destinations import Destination, DestinationUnavailable
from adapter.delivery.outbound import AddressRefused, check_url
from adapter.delivery.outbox import OUTBOX, Delivery, enqueue
from adapter.delivery.retry import Attempted
from adapter.directory.inboxes import load_inboxes
from adapter.errors import Forbidden, Issue, UnprocessableResource
from adapter.fhir import service as fhir_service
from adapter.fhir import store
from adapter.inbox.models import InboxItem
from adapter.mappings import codes
from adapter.subscriptions import backport
from adapter.subscriptions.models import SubscriptionEvent, SubscriptionState

KIND = "subscription-notification"
PREFIX = "Subscription/"
STATE = SubscriptionState.__table__
EVENT = SubscriptionEvent.__table__
ITEM = InboxItem.__table__
TASK_STATUSES = ("draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress", "on-hold",
                 "failed", "completed", "entered-in-error")
ERROR_AFTER_FAILURES = 3  # failed attempts in a row before the subscription shows `error`
EVENTS_PAGE = 1000  # the most events one $events answer holds


def _unprocessable(message: str, expression: str, code: str = "invalid") -> UnprocessableResource:
    return UnprocessableResource(Issue(code, message, expression))


def subscriber_key(caller: Caller) -> str:
    """Who a subscription belongs to: the client, or the user."""
    if caller.kind == "client":
        return f"client|{caller.client_name}"
    if caller.kind == "user":
        return f"user|{caller.practitioner_id}"
    return caller.kind


def caller_of(subscriber: str) -> Caller:
    """The subscriber as it was when it subscribed (its visibility is checked again at each notification)."""
    fields = json.loads(subscriber)
    fields["roles"] = frozenset(fields.get("roles", ()))
    fields["capabilities"] = frozenset(fields.get("capabilities", ()))
    return Caller(**fields)


def _subscriber(caller: Caller) -> str:
    fields = asdict(caller)
    fields["roles"] = sorted(caller.roles)
    fields["capabilities"] = sorted(caller.capabilities)
    return json.dumps(fields, sort_keys=True)


def check_endpoint(ctx, url: str) -> None:
    """The outbound client's rules (https to a public address; loopback/private only if MC_OUTBOUND_ALLOW_HOSTS
    says so), with plain http allowed in the sandbox."""
    try:
        check_url(url, allowed_hosts=frozenset(h.lower() for h in ctx.config.outbound_allow_hosts),
                  plain_http=ctx.config.sandbox)
    except AddressRefused as exc:
        raise _unprocessable(f"the endpoint is refused: {exc}", "Subscription.channel.endpoint") from None


def _check_filters(ctx, requested: backport.Requested) -> None:
    if not visibility.sees_inbox(ctx, requested.owner) or not load_inboxes(ctx, [requested.owner]):
        # One answer for unknown and unseen: a filter must not reveal which inboxes exist.
        raise _unprocessable(f"the filter's owner {requested.owner} is not an inbox the caller can see",
                             "Subscription.criteria.extension", "forbidden")
    unknown = [c for c in requested.codes if c not in codes("item-kind")]
    if unknown:
        raise _unprocessable(f"code {unknown[0]} is not an item-kind", "Subscription.criteria.extension", "code-invalid")
    unknown = [s for s in requested.statuses if s not in TASK_STATUSES]
    if unknown:
        raise _unprocessable(f"status {unknown[0]} is not a task-status", "Subscription.criteria.extension", "code-invalid")


def _start(ctx, owner: str) -> tuple[int, int]:
    """The owner's last feed position now: events are what changes after it (one indexed row)."""
    row = ctx.session.execute(select(ITEM.c.feed_xid, ITEM.c.feed_pos).where(ITEM.c.owner == owner)
                              .order_by(ITEM.c.feed_xid.desc(), ITEM.c.feed_pos.desc()).limit(1)).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def create_subscription(ctx, *, resource: dict, resource_id: str | None = None):
    """POST Subscription: checked, stored without its headers, and a handshake queued."""
    if ctx.caller.kind not in ("client", "user", "sandbox-operator"):
        raise Forbidden.simple("subscriptions are a client's or a user's")
    try:
        requested = backport.read_request(resource)
    except backport.Invalid as exc:
        raise _unprocessable(exc.message, exc.expression, exc.code) from None
    _check_filters(ctx, requested)
    check_endpoint(ctx, requested.endpoint)
    stored_resource = backport.without_secrets({**resource, "status": "requested"})
    stored_resource.pop("error", None)
    definition = ctx.registry.resource("Subscription")
    stored = fhir_service.write(ctx, definition=definition, resource=stored_resource,
                                resource_id=resource_id or fhir_service.new_id(), previous=None)
    start_xid, start_pos = _start(ctx, requested.owner)
    now = ctx.clock()
    ctx.session.execute(insert(STATE).values(
        id=stored.id, subscriber=_subscriber(ctx.caller), subscriber_key=subscriber_key(ctx.caller),
        owner=requested.owner, codes=" ".join(requested.codes) or None, statuses=" ".join(requested.statuses) or None,
        endpoint=requested.endpoint, headers=json.dumps(requested.headers), content=requested.content,
        heartbeat_seconds=requested.heartbeat_seconds, timeout_seconds=requested.timeout_seconds,
        max_count=requested.max_count, status="requested", events=0, queued=0, start_xid=start_xid, start_pos=start_pos,
        failures=0, last_sent=now, error=None, created_at=now))
    queue_notification(ctx, subscription_id=stored.id, status="requested", kind="handshake", events_since=0, events=[],
                       content=requested.content)
    return stored, True


def queue_notification(ctx, *, subscription_id: str, status: str, kind: str, events_since: int,
                       events: list[backport.Event], content: str) -> None:
    """One notification Bundle into the outbox (built now: what the subscriber may see now)."""
    bundle = backport.notification(base=ctx.config.fhir_base_url, subscription_id=subscription_id, status=status, kind=kind,
                                   events_since=events_since, events=events, content=content,
                                   timestamp=store.instant(ctx.clock()))
    enqueue(ctx.session, deliveries=[Delivery(KIND, f"{PREFIX}{subscription_id}",
                                              {"subscription": subscription_id, "type": kind, "bundle": bundle},
                                              f"Subscription/{subscription_id}")], now=ctx.clock())


_UNCHANGEABLE = ("meta", "status", "id", "text", "error")


def check_update(ctx, resource: dict, previous: dict | None) -> None:
    """A subscriber ends a subscription by updating its status to off; nothing else of it changes."""
    if previous is None:
        return
    if resource.get("status") != "off":
        raise _unprocessable("a subscription is ended by setting its status to off; nothing else is updated",
                             "Subscription.status", "business-rule")
    mine = {k: v for k, v in backport.without_secrets(resource).items() if k not in _UNCHANGEABLE}
    theirs = {k: v for k, v in previous.items() if k not in _UNCHANGEABLE}
    if mine != theirs:
        raise _unprocessable("only the status changes (to off); create a new subscription for other criteria or channel",
                             "Subscription", "business-rule")
    resource.pop("channel", None)
    resource["channel"] = previous["channel"]


def after_update(ctx, resource: dict, previous: dict | None) -> None:
    """Ended: no more events or notifications (what is queued finds the destination off)."""
    if previous is not None and resource.get("status") == "off":
        ctx.session.execute(update(STATE).where(STATE.c.id == resource["id"]).values(status="off"))


# -- the subscriber's reads ---------------------------------------------------------------------------


def visibility_of(ctx, id_column):
    """A subscription is seen by its subscriber only (and the operator, the adapter)."""
    if visibility.sees_everything(ctx):
        return None
    return exists().where(STATE.c.id == id_column, STATE.c.subscriber_key == subscriber_key(ctx.caller))


def _state(ctx, subscription_id: str):
    fhir_service.read(ctx, resource_type="Subscription", resource_id=subscription_id)  # 404 unless the caller's
    return ctx.session.execute(select(STATE).where(STATE.c.id == subscription_id)).first()


def _parameter(parameters: dict, name: str) -> str | None:
    for parameter in (parameters or {}).get("parameter", []):
        if parameter.get("name") == name:
            for key, value in parameter.items():
                if key.startswith("value"):
                    return str(value)
    return None


def status_operation(ctx, subscription_id: str, parameters: dict) -> tuple[int, dict]:
    """`$status`: a searchset holding the subscription's SubscriptionStatus (query-status)."""
    state = _state(ctx, subscription_id)
    status = backport.status_parameters(base=ctx.config.fhir_base_url, subscription_id=subscription_id, status=state.status,
                                        kind="query-status", events_since=state.events, error=state.error)
    return 200, {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [
        {"fullUrl": f"urn:uuid:{status['id']}", "resource": status, "search": {"mode": "match"}}]}


def _number(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise _unprocessable(f"{name} is a whole number", name)
    return int(value)


def events_operation(ctx, subscription_id: str, parameters: dict) -> tuple[int, dict]:
    """`$events`: the events numbered eventsSinceNumber..eventsUntilNumber (a query-event history Bundle)."""
    state = _state(ctx, subscription_id)
    since = _number(_parameter(parameters, "eventsSinceNumber"), "eventsSinceNumber") or 1
    until = _number(_parameter(parameters, "eventsUntilNumber"), "eventsUntilNumber") or state.events
    content = _parameter(parameters, "content") or state.content
    if content not in backport.CONTENTS:
        raise _unprocessable(f"content is one of {', '.join(backport.CONTENTS)}", "content", "code-invalid")
    until = min(until, state.events, since + EVENTS_PAGE - 1)
    rows = ctx.session.execute(select(EVENT).where(EVENT.c.subscription_id == subscription_id, EVENT.c.number >= since,
                                                   EVENT.c.number <= until).order_by(EVENT.c.number)).all()
    events = events_with_tasks(ctx, rows, owner=state.owner, content=content)
    bundle = backport.notification(base=ctx.config.fhir_base_url, subscription_id=subscription_id, status=state.status,
                                   kind="query-event", events_since=state.events, events=events, content=content,
                                   timestamp=store.instant(ctx.clock()))
    return 200, bundle


def events_with_tasks(ctx, rows, *, owner: str, content: str) -> list[backport.Event]:
    """The events, with their Tasks (each as the event's change left it) when the payload is full-resource.

    A Task goes out only in a version owned by the subscribed inbox (what the subscriber could read).
    """
    tasks: dict[tuple[str, int | None], dict] = {}
    if content == "full-resource" and rows:
        for key, stored in _stored_versions(ctx, rows).items():
            resource = stored.as_dict()
            if (resource.get("owner") or {}).get("reference") == owner:
                tasks[key] = resource
    return [backport.Event(int(r.number), store.instant(r.at), r.task_id, tasks.get((r.task_id, r.version)))
            for r in rows]


def _stored_versions(ctx, rows) -> dict:
    """(task id, version) -> the stored version; an event numbered before migration 0017 names none: the current one."""
    keys = sorted({(r.task_id, int(r.version)) for r in rows if r.version is not None})
    found: dict = store.load_versions(ctx.session, resource_type="Task", keys=keys) if keys else {}
    unversioned = sorted({r.task_id for r in rows if r.version is None})
    if unversioned:
        current = store.load_many(ctx.session, resource_type="Task", ids=unversioned)
        found.update({(task_id, None): stored for task_id, stored in current.items()})
    return found


def waiting_destinations(ctx, subscription_ids: list[str]) -> set[str]:
    """Which of these subscriptions have a notification still waiting in the outbox (one indexed query)."""
    names = [f"{PREFIX}{i}" for i in subscription_ids]
    return set(ctx.session.execute(select(OUTBOX.c.destination).where(
        OUTBOX.c.destination.in_(names), OUTBOX.c.state.in_(("pending", "delivering")))).scalars())


# -- the outbox's side --------------------------------------------------------------------------------


def resolve_destination(session, name: str) -> Destination:
    """Where a subscription's notifications go, with its headers (secrets, read only here)."""
    subscription_id = name.removeprefix(PREFIX)
    row = session.execute(select(STATE.c.endpoint, STATE.c.headers, STATE.c.status, STATE.c.timeout_seconds)
                          .where(STATE.c.id == subscription_id)).first()
    if row is None:
        raise DestinationUnavailable(f"{name} does not exist")
    if row.status == "off":
        raise DestinationUnavailable(f"{name} is off")
    return Destination(name, row.endpoint, json.loads(row.headers), timeout=row.timeout_seconds)


def deliver_notification(entry, *, destination, client, now) -> Attempted:
    """POST the notification Bundle to the subscription's endpoint."""
    body = json.dumps(entry.payload["bundle"], ensure_ascii=False, separators=(",", ":")).encode()
    headers = {**destination.headers, "Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
               "X-Request-Id": entry.id}
    return post_json(client, destination.url, body=body, headers=headers, now=now, timeout=destination.timeout)


def set_status(ctx, subscription_id: str, status: str, *, error: str | None = None) -> None:
    """The subscription's status, in its state and as a new version of its resource (what a read shows)."""
    ctx.session.execute(update(STATE).where(STATE.c.id == subscription_id).values(status=status, error=error))
    current = store.load_current(ctx.session, resource_type="Subscription", resource_id=subscription_id, for_update=True)
    if current is None:
        return
    resource = current.as_dict()
    if resource.get("status") == status and resource.get("error") == error:
        return
    resource["status"] = status
    resource.pop("error", None)
    if error:
        resource["error"] = error
    fhir_service.write(ctx.as_adapter(), definition=ctx.registry.resource("Subscription"), resource=resource,
                       resource_id=subscription_id, previous=current)


def _subscription_of(entry) -> str | None:
    return entry.payload.get("subscription") if entry.kind == KIND else None


def on_attempted(ctx, *, entry, attempted) -> None:
    """Repeated failures show as `error`; the outbox keeps retrying (back-off, then a dead letter)."""
    subscription_id = _subscription_of(entry)
    if subscription_id is None or attempted.outcome == "delivered":
        return
    row = ctx.session.execute(select(STATE.c.failures, STATE.c.status).where(STATE.c.id == subscription_id)).first()
    if row is None:
        return
    failures = row.failures + 1
    ctx.session.execute(update(STATE).where(STATE.c.id == subscription_id).values(failures=failures))
    if failures >= ERROR_AFTER_FAILURES and row.status in ("active", "requested"):
        set_status(ctx, subscription_id, "error", error=f"{failures} failed notifications: {attempted.reason}"[:200])


def on_delivered(ctx, *, entry, **_) -> None:
    """A 2xx: the handshake makes the subscription active, and any success ends an error."""
    subscription_id = _subscription_of(entry)
    if subscription_id is None:
        return
    row = ctx.session.execute(select(STATE.c.status, STATE.c.failures).where(STATE.c.id == subscription_id)).first()
    if row is None:
        return
    # Written only when there is something to reset: the notifier's pass holds the row (it numbers
    # the subscription's events), and an unconditional write would wait for that pass each time.
    if row.failures:
        ctx.session.execute(update(STATE).where(STATE.c.id == subscription_id).values(failures=0))
    if row.status in ("requested", "error"):
        set_status(ctx, subscription_id, "active")


def on_dead(ctx, *, entry, reason: str) -> None:
    """A notification that failed for good: the subscription is in error (its events stay for $events)."""
    subscription_id = _subscription_of(entry)
    if subscription_id is not None:
        row = ctx.session.execute(select(STATE.c.status).where(STATE.c.id == subscription_id)).first()
        if row is not None and row.status != "off":
            set_status(ctx, subscription_id, "error", error=f"notification failed: {reason}"[:200])

