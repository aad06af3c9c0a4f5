"""Benchmark: subscription notifications, commit to receiver.

    python -m adapter.bench.subscriptions [--database sqlite|postgresql] [--subscriptions 100] [--messages 300]
                                          [--interval S] [--workers N] [--threads T]

A fresh database with the sandbox directory; `--subscriptions` rest-hook subscriptions (id-only)
on one samverkan inbox, to a local receiver in this process; `--workers` `mc-adapter worker`
processes (T delivery threads each; one of them holds the notifier's lease) deliver, as in
production. Messages are sent to the inbox one after
another from a client thread; every message is an event for every subscription. Prints
notifications per second (first send to last arrival), commit-to-receiver latency p50/p95/p99
(the message's 201 to the first arrival of each of its notifications), and checks that every
subscription received every event number once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from adapter.bench.receiver import RecordingReceiver


def _arrivals(receiver) -> list[tuple[float, str, list[int], list[str]]]:
    """(arrival time, subscription id, event numbers, foci) of each notification received."""
    arrivals = []
    for at, body in receiver.received():
        parameters = body["entry"][0]["resource"]["parameter"]
        subscription = next(p["valueReference"]["reference"] for p in parameters if p["name"] == "subscription")
        numbers, foci = [], []
        for p in parameters:
            if p["name"] == "notification-event":
                parts = {q["name"]: q for q in p["part"]}
                numbers.append(int(parts["event-number"]["valueString"]))
                foci.append(parts["focus"]["valueReference"]["reference"].rsplit("/", 1)[1])
        arrivals.append((at, subscription.rsplit("/", 1)[1], numbers, foci))
    return arrivals


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    return {name: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)
            for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))}


def _spawn_worker(database_url: str, workdir: str, *, threads: int, name: str) -> subprocess.Popen:
    """An `mc-adapter worker` process on the benchmark's database (notifier pass every 0.05 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({"MC_DATABASE_URL": database_url, "MC_SANDBOX": "1", "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
                "MC_PUBLIC_BASE_URL": "http://127.0.0.1:8080", "MC_SUBSCRIPTION_NOTIFY_SECONDS": "0.05"})
    return subprocess.Popen([sys.executable, "-m", "adapter", "worker", "--threads", str(threads), "--name", name],
                            env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, f"{name}.log"), "wb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between messages (0: as fast as they go)")
    parser.add_argument("--workers", type=int, default=1, help="mc-adapter worker processes")
    parser.add_argument("--threads", type=int, default=4, help="delivery threads per worker")
    args = parser.parse_args(argv)

    from sqlalchemy import select

    from adapter import migrate
    from adapter.app import create_app
    from adapter.auth.tokens import issue_operator_token
    from adapter.bench.run import fresh_database
    from adapter.cli import _load_sandbox
    from adapter.config import Config
    from adapter.db import make_engine, utcnow
    from adapter.identifiers import BASE, HSA_ID, INBOX_ID
    from adapter.inbox.models import InboxItem
    from adapter.subscriptions import backport
    from datetime import timedelta

    workdir = tempfile.mkdtemp(prefix="mc-bench-subscriptions-")
    database_url = fresh_database(args.database, workdir)
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    config = Config(database_url=database_url, public_base_url="http://127.0.0.1:8080", sandbox=True,
                    outbound_allow_hosts=("127.0.0.1",))
    _load_sandbox(config)
    app = create_app(config)
    state = app.extensions["mc"]
    token = issue_operator_token(key=state.key("sandbox_token_key"), now=utcnow(), lifetime=timedelta(hours=2))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}

    def first(query: str) -> dict:
        return next(e["resource"] for e in client.get(f"/fhir/{query}", headers=auth).get_json()["entry"]
                    if e["search"]["mode"] == "match")

    sender = first(f"HealthcareService?identifier={INBOX_ID}|SE2120000001-E000000000301%23samverkan")
    owner = first(f"HealthcareService?identifier={INBOX_ID}|SE2120000002-E000000000302%23samverkan")
    maria = first(f"Practitioner?identifier={HSA_ID}|SE2120000001-P000000003002")
    hook = RecordingReceiver()
    workers = [_spawn_worker(database_url, workdir, threads=args.threads, name=f"bench-{n}") for n in range(args.workers)]
    for _ in range(args.subscriptions):
        answer = client.post("/fhir/Subscription", headers=auth, json={
            "resourceType": "Subscription", "status": "requested", "reason": "bench", "criteria": backport.TOPIC,
            "_criteria": {"extension": [{"url": backport.FILTER_CRITERIA, "valueString": f"Task?owner=HealthcareService/{owner['id']}"}]},
            "channel": {"type": "rest-hook", "endpoint": hook.url, "payload": "application/fhir+json"}})
        assert answer.status_code == 201, answer.get_json()
    deadline = time.monotonic() + 60
    while len(hook.received()) < args.subscriptions and time.monotonic() < deadline:  # the handshakes
        time.sleep(0.05)
    handshakes = len(hook.received())
    committed: dict[str, float] = {}
    started = time.time()
    for n in range(args.messages):
        answer = client.post("/fhir/Communication", headers=auth, json={
            "resourceType": "Communication", "status": "completed",
            "identifier": [{"system": "urn:bench", "value": f"m-{n}"}],
            "category": [{"coding": [{"system": f"{BASE}/CodeSystem/message-category", "code": "message"}]}],
            "sender": {"reference": f"HealthcareService/{sender['id']}"}, "recipient": [{"reference": f"HealthcareService/{owner['id']}"}],
            "extension": [{"url": f"{BASE}/StructureDefinition/sent-by", "valueReference": {"reference": f"Practitioner/{maria['id']}"}}],
            "payload": [{"contentString": "Benchmark"}]})
        assert answer.status_code == 201, answer.get_json()
        committed[answer.get_json()["id"]] = time.time()
        if args.interval:
            time.sleep(args.interval)
    expected = args.subscriptions * args.messages
    deadline = time.monotonic() + 600
    while sum(len(a[2]) for a in _arrivals(hook)[handshakes:]) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=30)
    hook.stop()
    arrivals = _arrivals(hook)[handshakes:]
    with state.sessions() as session:
        focus_of = dict(session.execute(select(InboxItem.task_id, InboxItem.focus).where(InboxItem.owner == f"HealthcareService/{owner['id']}")).all())
    latencies, per_subscription = [], {}
    for at, subscription, numbers, foci in arrivals:
        per_subscription.setdefault(subscription, []).extend(numbers)
        for task_id in foci:
            latencies.append(at - committed[focus_of[task_id].split("/", 1)[1]])
    delivered = sum(len(n) for n in per_subscription.values())
    wall = (max(a[0] for a in arrivals) - started) if arrivals else 0.0
    complete = all(sorted(numbers) == list(range(1, args.messages + 1)) for numbers in per_subscription.values()) \
        and len(per_subscription) == args.subscriptions
    lat = _percentiles(latencies)
    rows = [("database", args.database), ("subscriptions / messages", f"{args.subscriptions} / {args.messages}"),
            ("events delivered", f"{delivered:,} of {expected:,} in {len(arrivals):,} notifications"),
            ("wall seconds (first send to last arrival)", f"{wall:.1f}"),
            ("events per second", f"{delivered / wall:,.0f}" if wall else "-"),
            ("notifications per second", f"{len(arrivals) / wall:,.0f}" if wall else "-"),
            ("commit -> receiver ms p50 / p95 / p99", f"{lat['p50']} / {lat['p95']} / {lat['p99']}"),
            ("every subscription got 1..N once", str(complete))]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
