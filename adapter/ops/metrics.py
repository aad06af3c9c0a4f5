"""Prometheus metrics (prometheus-client; its multiprocess mode under gunicorn).

Two kinds:
- Counted where they happen, per process, summed across gunicorn's workers through
  `PROMETHEUS_MULTIPROC_DIR` (set by `serve`): requests by route and status, latency, messages
  routed and refused by rule, connections in use. The delivery worker counts its deliveries and
  job runs and serves them on its own port (`mc-adapter worker --metrics-port`).
- Read from the database at scrape time, through indexed queries only: the outbox backlog by
  state and the oldest waiting row's age, dead letters, the feed horizon's lag, the periodic
  jobs' last successes, and the routine's validity.

`GET /metrics` needs `Authorization: Bearer <MC_METRICS_TOKEN>`; in sandbox mode it is open.
Labels never carry ids of patients or messages: routes are URL rules (`/fhir/<resource_type>`),
destinations are `Endpoint/<id>` or `journal`.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from datetime import datetime
from functools import cache

from flask import Blueprint, Flask, Response, g, request
from sqlalchemy import func, select, text

from adapter.db import as_utc
from adapter.http.unit_of_work import state

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BACKLOG_STATES = ("pending", "delivering", "dead")


_CREATED = threading.Lock()


def process_metrics():
    """This process's counters (created once, on first use, after `PROMETHEUS_MULTIPROC_DIR` is set).

    Thread-safe: delivery threads and request threads may ask first at the same moment, and
    prometheus-client refuses a second registration of a name.
    """
    with _CREATED:
        return _create_metrics()


@cache
def _create_metrics():
    from prometheus_client import Counter, Gauge, Histogram

    class Metrics:
        requests = Counter("mc_http_requests", "HTTP requests by route, method and status", ["route", "method", "status"])
        latency = Histogram("mc_http_request_duration_seconds", "Request latency by route", ["route"], buckets=BUCKETS)
        routed = Counter("mc_messages_routed", "Messages accepted and routed, by item kind", ["item_kind"])
        recipients = Counter("mc_message_recipients", "Inbox items created for routed messages")
        refused = Counter("mc_messages_refused", "Requests refused by a rule of the routine", ["rule"])
        pool = Gauge("mc_db_pool_checked_out", "Database connections in use", multiprocess_mode="livesum")
        deliveries = Counter("mc_deliveries", "Delivery attempts by destination and result", ["destination", "result"])
        delivery_seconds = Histogram("mc_delivery_duration_seconds", "Delivery attempt duration", buckets=BUCKETS)
        job_runs = Counter("mc_periodic_job_runs", "Periodic job runs by this worker, by result", ["job", "result"])

    return Metrics()


class DatabaseCollector:
    """Gauges read from the database when scraped (indexed reads; nothing scans a table)."""

    def __init__(self, app_state):
        self.app = app_state

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from adapter.delivery.outbox import OUTBOX
        from adapter.ops.models import PeriodicJobState

        backlog = GaugeMetricFamily("mc_outbox_backlog", "Outbox rows waiting or dead, by state", labels=["state"])
        oldest = GaugeMetricFamily("mc_outbox_oldest_waiting_age_seconds", "Age of the oldest row waiting for delivery")
        dead = GaugeMetricFamily("mc_outbox_dead_letters", "Dead letters (kept for retry)")
        horizon = GaugeMetricFamily("mc_feed_horizon_lag_seconds",
                                    "Age of the oldest open writing transaction: how far polls lag commits")
        jobs = GaugeMetricFamily("mc_periodic_job_last_success_timestamp_seconds", "Last successful run", labels=["job"])
        routine = GaugeMetricFamily("mc_routine_expired", "1 when the routine the flow rules implement is past its validity")
        subscriptions = GaugeMetricFamily("mc_subscriptions", "Subscriptions by status", labels=["status"])
        unsent = GaugeMetricFamily("mc_subscription_events_unsent",
                                   "Events numbered but not yet queued as a notification (active and error subscriptions)")
        now = self.app.clock()
        with self.app.engine.connect() as connection:
            for wanted in BACKLOG_STATES:
                count = connection.execute(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.state == wanted)).scalar()
                backlog.add_metric([wanted], count)
                if wanted == "dead":
                    dead.add_metric([], count)
            first = connection.execute(select(func.min(OUTBOX.c.queued_at))
                                       .where(OUTBOX.c.state.in_(("pending", "delivering")))).scalar()
            oldest.add_metric([], (now - as_utc(first)).total_seconds() if first else 0.0)
            horizon.add_metric([], _horizon_lag(connection))
            table = PeriodicJobState.__table__
            for name, success in connection.execute(select(table.c.name, table.c.last_success)):
                jobs.add_metric([name], as_utc(success).timestamp() if success else 0.0)
            _subscription_gauges(connection, subscriptions, unsent)
        report = self.app.registry.status_reports.get("routine")
        routine.add_metric([], 1.0 if report and report(now).get("expired") else 0.0)
        yield from (backlog, oldest, dead, horizon, jobs, routine, subscriptions, unsent)


def _subscription_gauges(connection, subscriptions, unsent) -> None:
    """Subscriptions by status, and the events waiting to be queued (one row per subscription: a small table)."""
    from adapter.subscriptions.models import SubscriptionState

    table = SubscriptionState.__table__
    counts = dict(connection.execute(select(table.c.status, func.count()).group_by(table.c.status)).all())
    for status in ("requested", "active", "error", "off"):
        subscriptions.add_metric([status], counts.get(status, 0))
    waiting = connection.execute(select(func.coalesce(func.sum(table.c.events - table.c.queued), 0))
                                 .where(table.c.status.in_(("active", "error")))).scalar()
    unsent.add_metric([], float(waiting))


def _horizon_lag(connection) -> float:
    """PostgreSQL: seconds since the oldest transaction holding an xid began (it holds back the feed horizon)."""
    if connection.dialect.name != "postgresql":
        return 0.0  # SQLite serialises writers: polls never wait for another transaction
    started = connection.execute(text(
        "SELECT min(xact_start) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname = current_database()")).scalar()
    return max(0.0, time.time() - started.timestamp()) if isinstance(started, datetime) else 0.0


def exposition(app_state) -> tuple[bytes, str]:
    """The text exposition of every metric this deployment has (all processes, plus the database's)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    process_metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()  # every gunicorn worker's files, merged
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Union(REGISTRY))  # this process's counters
    registry.register(DatabaseCollector(app_state))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Union:
    """Another registry's metrics, as one collector (the single-process case)."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


def _authorised() -> bool:
    config = state().config
    if config.metrics_token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), config.metrics_token.encode())
    return config.sandbox


def _metrics():
    if not _authorised():
        body = '{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "security", ' \
               '"diagnostics": "metrics need Authorization: Bearer <MC_METRICS_TOKEN>"}]}'
        return Response(body, status=401, content_type="application/fhir+json",
                        headers={"WWW-Authenticate": 'Bearer realm="mc-adapter metrics"'})
    data, content_type = exposition(state())
    return Response(data, content_type=content_type)


def install_request_metrics(app: Flask) -> None:
    """Count and time every request by its URL rule (also as `Server-Timing: app;dur=<ms>`, which the
    benchmark reads); count refusals by rule; track connections in use."""

    @app.before_request
    def _start():
        g.mc_started = time.perf_counter()

    @app.after_request
    def _count(response):
        metrics = process_metrics()
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        started = g.get("mc_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            metrics.latency.labels(route).observe(elapsed)
            response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.2f}"
        for rule in g.get("mc_refused_rules", ()):
            metrics.refused.labels(rule).inc()
        metrics.pool.set(state().engine.pool.checkedout())
        return response


def on_message_routed(_ctx, *, category: str, recipients: int) -> None:
    """Listener of the messaging domain's `message-routed` event."""
    metrics = process_metrics()
    metrics.routed.labels(category).inc()
    metrics.recipients.inc(recipients)


def observe_delivery(destination: str, outcome: str, seconds: float) -> None:
    """The delivery worker's observer (adapter/delivery/worker.py)."""
    metrics = process_metrics()
    metrics.deliveries.labels(destination, outcome).inc()
    metrics.delivery_seconds.observe(seconds)


def serve_worker_metrics(app_state, *, host: str, port: int) -> None:
    """The delivery worker's `/metrics` on its own port (a thread of prometheus-client's server)."""
    from prometheus_client import REGISTRY, start_http_server

    process_metrics()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        REGISTRY.register(DatabaseCollector(app_state))
    start_http_server(port, addr=host)


def metrics_blueprint() -> Blueprint:
    """`GET /metrics`."""
    bp = Blueprint("metrics", __name__)
    bp.add_url_rule("/metrics", "metrics", _metrics, methods=["GET"])
    return bp
