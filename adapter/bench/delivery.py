"""The benchmark's delivery phase: two `mc-adapter worker` processes push what ingest routes.

Every samverkan inbox of the generated directory gets an Endpoint at a local receiver
(`adapter/bench/receiver.py`, 201). Ingest runs at full speed for the phase's seconds while the
workers deliver; the backlog (pending + delivering rows) is sampled twice a second. Figures:
deliveries per second, the backlog at its largest and at the end of ingest, the time to drain,
and commit-to-delivery latency (outbox row written in the message's transaction -> first
arrival at the receiver). Then the same with the receiver failing 20% of requests with a
transient 503: every row must still arrive, and repeats are counted.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time

from sqlalchemy import func, select

from adapter.bench.receiver import Receiver
from adapter.db import as_utc, make_engine
from adapter.delivery.models import OutboxEntry


def _request(port: int, method: str, path: str, auth: dict, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, json.dumps(body) if body is not None else None,
                       {"Content-Type": "application/fhir+json", **auth, **(headers or {})})
    response = connection.getresponse()
    raw = response.read()
    return response.status, (json.loads(raw) if raw else {})


def push_samverkan_inboxes(port: int, auth: dict, inboxes: list[str], receiver_url: str) -> None:
    """An Endpoint at the receiver, named by every inbox given."""
    status, endpoint = _request(port, "POST", "/fhir/Endpoint", auth, {
        "resourceType": "Endpoint", "status": "active", "address": receiver_url, "payloadType": [{"text": "messages"}],
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"}})
    assert status == 201, endpoint
    for reference in inboxes:
        status, service = _request(port, "GET", f"/fhir/{reference}", auth)
        service["endpoint"] = [{"reference": f"Endpoint/{endpoint['id']}"}]
        status, _ = _request(port, "PUT", f"/fhir/{reference}", auth, service,
                             {"If-Match": f'W/"{service["meta"]["versionId"]}"'})
        assert status == 200


def start_workers(database_url: str, workdir: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "MC_DATABASE_URL": database_url, "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1"}
    return [subprocess.Popen([sys.executable, "-m", "adapter", "worker", "--name", f"bench-{i}"], env=env, cwd=workdir,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(count)]


def _backlog(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(OutboxEntry)
                                  .where(OutboxEntry.state.in_(("pending", "delivering")))).scalar()


def measure(database_url: str, receiver: Receiver, run_ingest, *, drain_timeout: float = 300) -> dict:
    """Run ingest (a callable returning its figures) beside the workers; figures of the deliveries."""
    engine = make_engine(database_url, pool_size=1)
    with engine.connect() as connection:
        known = set(connection.execute(select(OutboxEntry.id)).scalars())
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(_backlog(engine))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.time()
    sampler.start()
    ingest = run_ingest()
    ingest_end = time.time()
    at_ingest_end = _backlog(engine)
    deadline = time.monotonic() + drain_timeout
    while _backlog(engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    drained = time.time()
    stop.set()
    sampler.join()
    with engine.connect() as connection:
        rows = [r for r in connection.execute(select(OutboxEntry.id, OutboxEntry.created_at, OutboxEntry.state)) if r.id not in known]
    engine.dispose()
    latencies = sorted((receiver.first_seen[r.id] - as_utc(r.created_at).timestamp()) * 1000 for r in rows if r.id in receiver.first_seen)
    arrived = [r for r in rows if r.id in receiver.first_seen]
    last_arrival = max((receiver.first_seen[r.id] for r in arrived), default=started)

    def at(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0

    return {
        "ingest_accepted_per_second": ingest["accepted_per_second"],
        "rows": len(rows), "delivered": sum(1 for r in rows if r.state == "delivered"),
        "dead": sum(1 for r in rows if r.state == "dead"), "missing": len(rows) - len(arrived),
        "repeats": sum(receiver.counts[r.id] - 1 for r in arrived),
        "deliveries_per_second": round(len(arrived) / max(last_arrival - started, 1e-9), 1),
        "backlog_max": max(samples or [0]), "backlog_at_ingest_end": at_ingest_end,
        "drain_seconds_after_ingest": round(max(0.0, drained - ingest_end), 1),
        "commit_to_delivery_ms": {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)},
        "receiver_transient_failures": receiver.failures,
    }


def delivery_phase(database_url: str, workdir: str, port: int, auth: dict, inboxes: list[str], run_ingest) -> dict:
    """Both runs (no faults, then 20% transient failures), two worker processes."""
    receiver = Receiver().start()
    workers = start_workers(database_url, workdir, 2)
    try:
        push_samverkan_inboxes(port, auth, inboxes, receiver.url)
        figures = {"clean": measure(database_url, receiver, run_ingest)}
        receiver.fail_rate = 0.2
        figures["transient_20_percent"] = measure(database_url, receiver, run_ingest)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        receiver.stop()
    return figures
