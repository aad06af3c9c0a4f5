"""The benchmark: ingest and polling against a baseline, the adapter served as users run it.

    python -m adapter.bench --database postgresql [--quick] [--json FILE]

1. A fresh database with a generated directory (region units, municipalities, members).
2. `mc-adapter serve` (gunicorn, N workers) with the bench-only baseline endpoint on.
3. Baseline: concurrent clients POST message bodies to `/bench/baseline` (parse JSON, insert
   one row): the same HTTP stack and database doing the least possible work.
4. Ingest: the same clients POST Communications in a realistic mix (shared to shared, patient
   messages with save-to-journal, three recipients, personal to personal, case starts and case
   messages). Accepted per second and latency percentiles. Baseline and ingest run in
   alternating rounds (`--rounds`, 5), and the gate is the median of the rounds' ratios.
5. Polling: Tasks are bulk-loaded to 10,000, then to 1,000,000 (100,000 with --quick), spread over
   10,000 inboxes; one inbox is paged 50 at a time. Client and server (Server-Timing) latency.
6. Ingest again with the large store, and each worker's peak resident memory.
7. Delivery (adapter/bench/delivery.py): samverkan inboxes get an Endpoint at a local receiver;
   ingest runs beside two `mc-adapter worker` processes, then again with 20% transient failures.
8. Peer (adapter/bench/peer.py, when `sekmet` is installed): the sandbox beside sekmet-fhir on
   SQLite, alternating rounds of 1 KB POSTs.

Every request carries the sandbox operator's token (`mc-adapter token --operator`).

Client processes run on the same machine as the server; the figures are for that set-up.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

BASE = "https://meddelandecenter-adapter.github.io/fhir"
HSA = "urn:oid:1.2.752.29.4.19"
ORGANISATIONSNUMMER = "urn:oid:2.5.4.97"
VGR = "2321000131"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Setup:
    """What the load generators need: inboxes with their members, personal inboxes, open cases."""

    region_inboxes: list[tuple[str, str]]  # (HealthcareService ref, a member's Practitioner ref)
    municipal_inboxes: list[tuple[str, str]]
    personal: list[str]  # care users' Practitioner refs
    cases: list[tuple[str, str, str]]  # (case Task ref, party inbox that may write, its member)


def percentiles(values: list[float]) -> dict:
    """p50, p95 and p99 in milliseconds."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


# ---------------------------------------------------------------- database and directory

def fresh_database(kind: str, workdir: str) -> str:
    """A new empty database: a SQLite file, or a PostgreSQL database dropped and created."""
    if kind == "sqlite":
        return f"sqlite:///{os.path.join(workdir, 'bench.sqlite3')}"
    import psycopg

    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS mc_bench_run WITH (FORCE)")
        conn.execute("CREATE DATABASE mc_bench_run")
    return PG_ADMIN.rsplit("/", 1)[0] + "/mc_bench_run"


def _directory_bundle(path: str, *, region_units: int, municipal_units: int, members: int) -> None:
    entries = []

    def add(url, resource):
        entries.append({"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}})

    for u in range(region_units + municipal_units):
        municipal = u >= region_units
        hsa = f"SE212000{u:04d}-E{u:06d}" if municipal else f"SE2321000131-E{u:06d}"
        # The region's units are one care provider (VGR's organisation number), so clinicians message each
        # other (MC-R9); each municipality is a provider of its own, reached through its samverkan inbox (MC-R3).
        identifiers = [{"system": HSA, "value": hsa}] + ([] if municipal else [{"system": ORGANISATIONSNUMMER, "value": VGR}])
        add(f"urn:uuid:unit-{u}", {"resourceType": "Organization", "name": f"Enhet {u}", "active": True,
                                   "identifier": identifiers,
                                   "type": [{"coding": [{"system": f"{BASE}/CodeSystem/organization-kind",
                                                         "code": "municipality" if municipal else "region-unit"}]}]})
        for m in range(members):
            p = f"{u}-{m}"
            add(f"urn:uuid:p-{p}", {"resourceType": "Practitioner", "active": True,
                                    "identifier": [{"system": HSA, "value": f"{hsa.split('-')[0]}-P{u:04d}{m:04d}"}]})
            add(f"urn:uuid:r-{p}", {
                "resourceType": "PractitionerRole", "active": True,
                "practitioner": {"reference": f"urn:uuid:p-{p}"}, "organization": {"reference": f"urn:uuid:unit-{u}"},
                "code": [{"coding": [{"system": f"{BASE}/CodeSystem/role", "code": "sjukskoterska" if m else "lakare"}]}],
                "healthcareService": [
                    {"type": "HealthcareService", "identifier": {"system": f"{BASE}/NamingSystem/inbox", "value": f"{hsa}#{s}"}}
                    for s in ("samverkan", "meddelande")],
            })
    with open(path, "w") as handle:
        json.dump({"resourceType": "Bundle", "type": "batch", "entry": entries}, handle)


def load_directory(database_url: str, workdir: str, *, region_units: int, municipal_units: int, members: int) -> None:
    """Migrate and load the generated directory."""
    from adapter import migrate
    from adapter.app import create_app
    from adapter.config import Config
    from adapter.db import make_engine
    from adapter.directory.loader import adapter_context
    from adapter.directory.loader import load_directory as load

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    path = os.path.join(workdir, "directory.json")
    _directory_bundle(path, region_units=region_units, municipal_units=municipal_units, members=members)
    state = create_app(Config(database_url=database_url)).extensions["mc"]
    report = load(path=path, make_context=lambda: adapter_context(state))
    if report.failed:
        raise SystemExit(f"directory load failed: {report.failed[:3]}")
    state.engine.dispose()


# ---------------------------------------------------------------- the served adapter

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, port: int, workers: int, workdir: str) -> subprocess.Popen:
    """`mc-adapter serve --sandbox` with the bench endpoints, as users run it."""
    env = {**os.environ, "MC_DATABASE_URL": database_url, "MC_BENCH_ENDPOINTS": "true",
           "MC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1"}
    process = subprocess.Popen(  # the delivery phase starts its own two workers
        [sys.executable, "-m", "adapter", "serve", "--sandbox", "--no-worker", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_serving(port, process, "the adapter")
    return process


def wait_until_serving(port: int, process: subprocess.Popen, what: str, *, seconds: float = 120) -> None:
    """Return once `GET /fhir/metadata` answers 200; exit the benchmark if `process` dies or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited before it served")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/fhir/metadata")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"{what} did not start")


AUTH: dict = {}  # the sandbox operator's Authorization header, set once the server runs


def operator_token(database_url: str, workdir: str) -> str:
    """`mc-adapter token --operator`: every request needs a token, the sandbox included."""
    env = {**os.environ, "MC_DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "adapter", "token", "--operator"], env=env, cwd=workdir,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def worker_peak_rss_mb(server: subprocess.Popen) -> list[float]:
    """VmHWM of each gunicorn worker (children of the master)."""
    peaks = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as handle:
                status = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        if status.get("PPid", "").strip() == str(server.pid):
            peaks.append(round(int(status["VmHWM"].split()[0]) / 1024, 1))
    return sorted(peaks)


# ---------------------------------------------------------------- where the CPU goes

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _parent(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def cpu_snapshot(server_pid: int | None) -> dict:
    """CPU seconds used so far by the adapter (gunicorn master and workers) and by PostgreSQL's processes."""
    adapter = postgresql = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if server_pid and (pid == str(server_pid) or _parent(pid) == str(server_pid)):
            adapter += _process_cpu(pid)
        elif _comm(pid) == "postgres":
            postgresql += _process_cpu(pid)
    return {"adapter": adapter, "postgresql": postgresql}


SERVER_PID: dict = {}  # set once the server runs, so that every phase can account its CPU


def _get(port: int, path: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=AUTH)
    return json.loads(connection.getresponse().read())


def prepare(port: int) -> Setup:
    """Find the generated inboxes and members, and open some cases for case messages."""
    def ids(path):
        bundle = _get(port, path)
        return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]

    region, municipal, personal = [], [], []
    for org in ids("/fhir/Organization?_count=500"):
        kind = org["type"][0]["coding"][0]["code"]
        if kind not in ("region-unit", "municipality") or not org["name"].startswith("Enhet"):
            continue
        inbox = ids(f"/fhir/HealthcareService?organization=Organization/{org['id']}&service-type=unit-samverkan")[0]
        roles = ids(f"/fhir/PractitionerRole?organization=Organization/{org['id']}")
        member = roles[0]["practitioner"]["reference"]
        (municipal if kind == "municipality" else region).append((f"HealthcareService/{inbox['id']}", member))
        if kind == "region-unit":
            personal.extend(r["practitioner"]["reference"] for r in roles)
    setup = Setup(region, municipal, personal, [])
    for i in range(20):
        sender, sender_member = municipal[i % len(municipal)]
        receiver, receiver_member = region[i % len(region)]
        _post(port, "/fhir/Communication", _communication(f"case-{i}", "case-start", sender, [receiver], sender_member))
        case = ids(f"/fhir/Task?owner={receiver}&code=case")[-1]
        setup.cases.append((f"Task/{case['id']}", receiver, receiver_member))
    return setup


def _post(port: int, path: str, body: dict) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/fhir+json", **AUTH})
    response = connection.getresponse()
    response.read()
    return response.status


def _communication(identifier: str, category: str, sender: str, recipients: list[str], sent_by: str | None,
                   patient: bool = False, part_of: str | None = None) -> dict:
    resource = {
        "resourceType": "Communication", "status": "completed",
        "identifier": [{"system": "urn:example:bench", "value": identifier}],
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": category}]}],
        "sender": {"reference": sender}, "recipient": [{"reference": r} for r in recipients],
        "payload": [{"contentString": "Hej! Kan ni ringa upp angående hemsjukvården i morgon? " * 3}],
    }
    extensions = []
    if sent_by:
        extensions.append({"url": f"{BASE}/StructureDefinition/sent-by", "valueReference": {"reference": sent_by}})
    if patient:
        resource["subject"] = {"identifier": {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}}
        extensions.append({"url": f"{BASE}/StructureDefinition/save-to-journal", "valueBoolean": True})
    if part_of:
        resource["partOf"] = [{"reference": part_of}]
    if extensions:
        resource["extension"] = extensions
    return resource


def as_message(communication: dict) -> dict:
    """The Communication as a FHIR message for `$process-message` (event new-message or case-message)."""
    categories = {c["code"] for cc in communication["category"] for c in cc["coding"]}
    event = "case-message" if "case-message" in categories else "new-message"
    return {"resourceType": "Bundle", "type": "message", "entry": [
        {"fullUrl": "urn:uuid:header", "resource": {
            "resourceType": "MessageHeader", "id": uuid.uuid4().hex,
            "eventCoding": {"system": f"{BASE}/CodeSystem/message-event", "code": event},
            "sender": {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2120000001-E000000000301"}},
            "source": {"endpoint": "https://bench.example/fhir"}, "focus": [{"reference": "urn:uuid:focus"}]}},
        {"fullUrl": "urn:uuid:focus", "resource": communication}]}


def message_mix(setup: Setup, rng: random.Random) -> dict:
    """One Communication of the realistic mix."""
    identifier = uuid.uuid4().hex
    roll = rng.random()
    sender, member = rng.choice(setup.municipal_inboxes)
    if roll < 0.35:  # a municipality's samverkan inbox to a region unit's
        return _communication(identifier, "message", sender, [rng.choice(setup.region_inboxes)[0]], member)
    if roll < 0.55:  # a patient message, saved to the journal
        return _communication(identifier, "message", sender, [rng.choice(setup.region_inboxes)[0]], member, patient=True)
    if roll < 0.70:  # three recipients
        recipients = list({r for r, _ in rng.sample(setup.region_inboxes, 3)})
        return _communication(identifier, "message", sender, recipients, member)
    if roll < 0.85:  # clinician to clinician, no patient (MC-R9)
        a, b = rng.sample(setup.personal, 2)
        return _communication(identifier, "message", a, [b], None)
    if roll < 0.92:  # a case starts
        return _communication(identifier, "case-start", sender, [rng.choice(setup.region_inboxes)[0]], member)
    case, party, party_member = rng.choice(setup.cases)  # a message in a case
    return _communication(identifier, "case-message", party, [], party_member, part_of=case)


# ---------------------------------------------------------------- load generation

def _client(args) -> dict:
    port, path, seconds, threads, seed, setup, auth = args
    import threading

    latencies, statuses, lock = [], {}, threading.Lock()
    deadline = time.monotonic() + seconds

    def run(thread_seed):
        rng = random.Random(thread_seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            mixed = message_mix(setup, rng)
            body = json.dumps(as_message(mixed) if path.endswith("$process-message") else mixed)
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, {"Content-Type": "application/fhir+json", **auth})
                response = connection.getresponse()
                data = response.read()
                status = response.status
                if status == 200 and b'"fatal-error"' in data:  # a refused message: not accepted
                    status = "200 fatal-error"
            except OSError:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=run, args=(seed * 1000 + i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"latencies": latencies, "statuses": statuses, "cpu_seconds": time.process_time()}


def load(port: int, path: str, setup: Setup, *, seconds: float, processes: int, threads: int,
         keep_latencies: bool = False) -> dict:
    """Concurrent clients POSTing for `seconds`; accepted per second and latency percentiles."""
    before = cpu_snapshot(SERVER_PID.get("pid"))
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_client, [(port, path, seconds, threads, i + 1, setup, dict(AUTH)) for i in range(processes)])
    after = cpu_snapshot(SERVER_PID.get("pid"))
    latencies = [x for r in results for x in r["latencies"]]
    statuses: dict = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    accepted = sum(n for s, n in statuses.items() if s in ("200", "201"))
    cpu = {"client": sum(r["cpu_seconds"] for r in results),
           **{part: after[part] - before[part] for part in ("adapter", "postgresql")}}
    requests = max(len(latencies), 1)
    return {**({"latencies": latencies} if keep_latencies else {}),
            "accepted_per_second": round(accepted / seconds, 1), "requests": len(latencies), "statuses": statuses,
            "latency_ms": percentiles(latencies), "clients": processes * threads,
            # CPU per request by part: the load generator's share shows whether it limits the figure.
            "cpu_ms_per_request": {part: round(1000 * used / requests, 2) for part, used in cpu.items()},
            "client_cpu_share": round(cpu["client"] / max(sum(cpu.values()), 1e-9), 3)}


# ---------------------------------------------------------------- polling

def bulk_tasks(database_url: str, *, total: int, inboxes: int, poll_inbox: str, poll_items: int, first_number: int) -> dict:
    """Insert Tasks directly (as the adapter stores them): `poll_items` more in the polled inbox, and
    enough over `inboxes` others that `total` are stored. Returns what was done."""
    from adapter.bench.bulk import count_tasks, insert_tasks

    stored = count_tasks(database_url)
    count = max(total - stored, poll_items)
    started = time.perf_counter()
    insert_tasks(database_url, start=first_number, stop=first_number + count, inboxes=inboxes,
                 poll_inbox=poll_inbox, poll_items=poll_items)
    return {"seconds": round(time.perf_counter() - started, 1), "inserted": count, "tasks_stored": count_tasks(database_url)}


def poll(port: int, inbox: str, *, requests: int) -> dict:
    """Page one inbox 50 at a time, over and over; client and server latency."""
    client_ms, server_ms, items_seen = [], [], 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = first = f"/fhir/Task?owner={inbox}&_count=50"
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", path, headers=AUTH)
        response = connection.getresponse()
        body = json.loads(response.read())
        client_ms.append((time.perf_counter() - started) * 1000)
        timing = response.getheader("Server-Timing", "app;dur=0").split("dur=")[1]
        server_ms.append(float(timing))
        items_seen += len(body.get("entry", []))
        following = [link["url"] for link in body["link"] if link["relation"] == "next"]
        path = following[0].split(f":{port}", 1)[1] if following else first
    return {"requests": requests, "items_per_page_mean": round(items_seen / requests, 1),
            "client_latency_ms": percentiles(client_ms), "server_latency_ms": percentiles(server_ms)}


def query_plan(database_url: str, inbox: str) -> str | None:
    """EXPLAIN ANALYZE of the feed's page query on PostgreSQL."""
    if not database_url.startswith("postgresql"):
        return None
    import psycopg

    sql = ("EXPLAIN (ANALYZE, BUFFERS) SELECT i.feed_xid, i.feed_pos, r.content FROM inbox_item i "
           "JOIN resource r ON r.resource_type = 'Task' AND r.id = i.task_id "
           "WHERE i.owner = %s AND (i.feed_xid, i.feed_pos) > (0, 0) AND i.trashed_at IS NULL "
           "AND i.feed_xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
           "ORDER BY i.feed_xid, i.feed_pos LIMIT 51")
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        return "\n".join(row[0] for row in conn.execute(sql, (inbox,)))


# ---------------------------------------------------------------- the run

def run(args) -> dict:
    quick = args.quick
    seconds = 10 if quick else 30
    large = 100_000 if quick else 1_000_000
    figures: dict = {"database": args.database, "mode": "quick" if quick else "full", "workers": args.workers,
                     "machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory() as workdir:
        database_url = fresh_database(args.database, workdir)
        load_directory(database_url, workdir, region_units=40, municipal_units=20, members=4)
        port = free_port()
        server = start_server(database_url, port, args.workers, workdir)
        SERVER_PID["pid"] = server.pid
        AUTH["Authorization"] = f"Bearer {operator_token(database_url, workdir)}"
        try:
            setup = prepare(port)
            load(port, "/fhir/Communication", setup, seconds=3, processes=args.processes, threads=args.threads)  # warm-up
            figures.update(alternating_rounds(port, setup, seconds=seconds, rounds=args.rounds, processes=args.processes,
                                              threads=args.threads))
            if args.ingest_only:
                return _ingest_summary(figures)
            figures["process_message"] = load(port, "/fhir/$process-message", setup, seconds=seconds, processes=args.processes,
                                              threads=args.threads)
            poll_inbox = "HealthcareService/bench-poll-inbox"
            # The polled inbox holds 100 items at 10,000 Tasks and 200 at the large size: pages of 50 are full in both.
            figures["bulk_10k"] = bulk_tasks(database_url, total=10_000, inboxes=100, poll_inbox=poll_inbox, poll_items=100, first_number=0)
            figures["polling_10k"] = poll(port, poll_inbox, requests=300 if quick else 1000)
            figures[f"bulk_{large}"] = bulk_tasks(database_url, total=large, inboxes=10_000, poll_inbox=poll_inbox, poll_items=100, first_number=10_000_000)
            figures[f"polling_{large}"] = poll(port, poll_inbox, requests=300 if quick else 1000)
            figures[f"ingest_with_{large}"] = load(port, "/fhir/Communication", setup, seconds=seconds, processes=args.processes, threads=args.threads)
            figures["query_plan_large"] = query_plan(database_url, poll_inbox)
            figures["worker_peak_rss_mb"] = worker_peak_rss_mb(server)
            if not args.skip_delivery:
                from adapter.bench.delivery import delivery_phase

                inboxes = [i for i, _ in setup.region_inboxes + setup.municipal_inboxes]
                figures["delivery"] = delivery_phase(database_url, workdir, port, dict(AUTH), inboxes, lambda: load(
                    port, "/fhir/Communication", setup, seconds=seconds, processes=args.processes, threads=args.threads))
        finally:
            server.terminate()
            server.wait(30)
    from adapter.bench.peer import peer_phase, sekmet_command

    sekmet = None if args.skip_peer else sekmet_command(args.sekmet)
    if sekmet:  # optional: only where sekmet-fhir is installed
        figures["peer_sqlite"] = peer_phase(sekmet)
    _ingest_summary(figures)
    empty = figures["ingest_empty"]["accepted_per_second"]
    figures["summary"].update({
        "process_message_vs_restful": round(figures["process_message"]["accepted_per_second"] / (empty or 1), 3),
        "ingest_with_large_vs_empty": round(figures[f"ingest_with_{large}"]["accepted_per_second"] / (empty or 1), 3),
        "polling_p95_ms_server_10k": figures["polling_10k"]["server_latency_ms"]["p95"],
        f"polling_p95_ms_server_{large}": figures[f"polling_{large}"]["server_latency_ms"]["p95"],
        "worker_peak_rss_mb_max": max(figures["worker_peak_rss_mb"] or [0]),
    })
    return figures


def alternating_rounds(port: int, setup: Setup, *, seconds: float, rounds: int, processes: int, threads: int) -> dict:
    """Baseline and ingest in alternating rounds (`rounds` of each, `seconds` in all per phase).

    On a shared two-core machine the speed of both drifts by tens of percent within minutes; a
    round of each, back to back, sees the same machine, so the gate is the median of the rounds'
    ratios (the pairwise figures show the spread), not one phase measured minutes after the other.
    """
    per_round = seconds / rounds
    baselines, ingests = [], []
    for _ in range(rounds):
        baselines.append(load(port, "/bench/baseline", setup, seconds=per_round, processes=processes, threads=threads,
                              keep_latencies=True))
        ingests.append(load(port, "/fhir/Communication", setup, seconds=per_round, processes=processes, threads=threads,
                            keep_latencies=True))
    pairwise = [round(i["accepted_per_second"] / (b["accepted_per_second"] or 1), 3) for b, i in zip(baselines, ingests)]
    return {"baseline": _merged(baselines), "ingest_empty": _merged(ingests), "pairwise": pairwise}


def _merged(phases: list[dict]) -> dict:
    """One phase's rounds as one: accepted per second over all of them, CPU per request averaged by requests."""
    requests = sum(p["requests"] for p in phases) or 1
    statuses: dict = {}
    for phase in phases:
        for status, n in phase["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    latencies = [x for phase in phases for x in phase.pop("latencies")]
    merged = {**phases[-1], "requests": requests, "statuses": statuses, "latency_ms": percentiles(latencies),
              "accepted_per_second": round(sum(p["accepted_per_second"] for p in phases) / len(phases), 1)}
    merged["cpu_ms_per_request"] = {part: round(sum(p["cpu_ms_per_request"][part] * p["requests"] for p in phases) / requests, 2)
                                    for part in phases[0]["cpu_ms_per_request"]}
    merged["client_cpu_share"] = round(sum(p["client_cpu_share"] * p["requests"] for p in phases) / requests, 3)
    return merged


def _ingest_summary(figures: dict) -> dict:
    empty = figures["ingest_empty"]["accepted_per_second"]
    pairwise = sorted(figures["pairwise"])
    figures["summary"] = {"ingest_fraction_of_baseline": pairwise[len(pairwise) // 2], "ingest_per_second": empty}
    return figures


def table(figures: dict) -> str:
    """The figures as a plain table."""
    s = figures["summary"]
    rows = [
        ("database / mode / workers", f"{figures['database']} / {figures['mode']} / {figures['workers']}"),
        ("baseline accepted/s", figures["baseline"]["accepted_per_second"]),
        ("ingest accepted/s (empty)", figures["ingest_empty"]["accepted_per_second"]),
        ("ingest / baseline (median of rounds; pairwise)",
         f"{s['ingest_fraction_of_baseline']} ({', '.join(map(str, figures['pairwise']))})"),
        ("ingest latency p50/p95/p99 ms", "/".join(str(v) for v in figures["ingest_empty"]["latency_ms"].values())),
        *[(f"{phase} CPU ms per request: client/adapter/postgresql (client share)",
           "/".join(str(v) for v in figures[phase]["cpu_ms_per_request"].values()) + f" ({figures[phase]['client_cpu_share']})")
          for phase in ("baseline", "ingest_empty")],
    ]
    if "polling_10k" not in figures:
        return _aligned(rows)
    large = [k for k in figures if k.startswith("polling_") and k != "polling_10k"][0].split("_")[1]
    rows = rows[:1] + [
        ("Tasks stored when polling", f"{figures['bulk_10k']['tasks_stored']} / {figures[f'bulk_{large}']['tasks_stored']}"),
        ("items per page (10k / large)", f"{figures['polling_10k']['items_per_page_mean']} / {figures[f'polling_{large}']['items_per_page_mean']}"),
        *rows[1:4],
        ("$process-message accepted/s (and / RESTful ingest)",
         f"{figures['process_message']['accepted_per_second']} ({s['process_message_vs_restful']})"),
        *rows[4:],
        (f"ingest accepted/s ({large} Tasks)", figures[f"ingest_with_{large}"]["accepted_per_second"]),
        (f"ingest {large} / empty", s["ingest_with_large_vs_empty"]),
        ("poll 10k server p50/p95/p99 ms", "/".join(str(v) for v in figures["polling_10k"]["server_latency_ms"].values())),
        ("poll 10k client p50/p95/p99 ms", "/".join(str(v) for v in figures["polling_10k"]["client_latency_ms"].values())),
        (f"poll {large} server p50/p95/p99 ms", "/".join(str(v) for v in figures[f"polling_{large}"]["server_latency_ms"].values())),
        (f"poll {large} client p50/p95/p99 ms", "/".join(str(v) for v in figures[f"polling_{large}"]["client_latency_ms"].values())),
        ("worker peak RSS MB", ", ".join(str(v) for v in figures["worker_peak_rss_mb"])),
    ]
    if "peer_sqlite" in figures:
        peer = figures["peer_sqlite"]
        rows.append(("SQLite, 1 KB POSTs: adapter / sekmet-fhir created/s (ratio; pairwise)",
                     f"{peer['adapter_created_per_second']} / {peer['sekmet_created_per_second']} "
                     f"({peer['adapter_vs_sekmet']}; {', '.join(map(str, peer['pairwise']))})"))
    for run_name, d in figures.get("delivery", {}).items():
        rows.extend([
            (f"delivery {run_name}: ingest/s, delivered/s", f"{d['ingest_accepted_per_second']} / {d['deliveries_per_second']}"),
            (f"delivery {run_name}: commit->delivery p50/p95/p99 ms", "/".join(str(v) for v in d["commit_to_delivery_ms"].values())),
            (f"delivery {run_name}: backlog max / at ingest end / drain s",
             f"{d['backlog_max']} / {d['backlog_at_ingest_end']} / {d['drain_seconds_after_ingest']}"),
            (f"delivery {run_name}: rows, delivered, missing, repeats, dead, 503s",
             f"{d['rows']}, {d['delivered']}, {d['missing']}, {d['repeats']}, {d['dead']}, {d['receiver_transient_failures']}"),
        ])
    return _aligned(rows)


def _aligned(rows: list[tuple]) -> str:
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--quick", action="store_true", help="about a minute: 10 s phases, 100,000 Tasks")
    parser.add_argument("--json", dest="json_file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=8, help="client threads per process")
    parser.add_argument("--rounds", type=int, default=5, help="alternating baseline/ingest rounds")
    parser.add_argument("--skip-delivery", action="store_true", help="leave out the delivery phase")
    parser.add_argument("--sekmet", default=None, help="the sekmet-fhir executable for the peer phase (default: on PATH)")
    parser.add_argument("--skip-peer", action="store_true", help="leave out the sekmet-fhir peer phase")
    parser.add_argument("--ingest-only", action="store_true", help="the baseline and RESTful ingest only (for profiling)")
    args = parser.parse_args(argv)
    figures = run(args)
    print(table(figures))
    if args.json_file:
        with open(args.json_file, "w") as handle:
            json.dump(figures, handle, indent=2)
    return 0
