"""A peer side by side: the adapter's sandbox and sekmet-fhir, both on SQLite, in alternating rounds.

    python -m adapter.bench.peer [--sekmet PATH] [--rounds 4] [--posts 400] [--threads 4]

sekmet-fhir (PyPI `sekmet-fhir`) is a store-only Python FHIR server: it validates and stores
what it is sent and routes nothing. The adapter does the routing too (flow policy, inbox items,
feed, audit), so beating it is the bar for "fast enough". Both are served as users run them on
the embedded default: `mc-adapter serve --sandbox` (gunicorn, SQLite) and `sekmet serve`
(uvicorn, SQLite). The same client (threads on keep-alive connections) POSTs the same 1 KB
Communication, a municipality's samverkan inbox writing to a region unit's, to each in turn;
rounds alternate so that neither benefits from a warmer machine. The phase runs only where the
`sekmet` command is installed (its own virtualenv is fine: pass `--sekmet`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

from adapter.bench import run as bench


def sekmet_command(given: str | None = None) -> str | None:
    """The `sekmet` executable: the given path, else the one on PATH, else None."""
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("sekmet")


def start_sekmet(command: str, workdir: str) -> tuple[subprocess.Popen, int]:
    """`sekmet serve` with its SQLite store in `workdir`."""
    port = bench.free_port()
    process = subprocess.Popen([command, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.wait_until_serving(port, process, "sekmet")
    return process, port


def one_kilobyte_message(setup: bench.Setup, number: int) -> dict:
    """A samverkan message of about 1 KB that the flow policy accepts."""
    sender, member = setup.municipal_inboxes[number % len(setup.municipal_inboxes)]
    recipient = setup.region_inboxes[number % len(setup.region_inboxes)][0]
    message = bench._communication(uuid.uuid4().hex, "message", sender, [recipient], member)
    payload = message["payload"][0]
    payload["contentString"] = "Hej! Kan ni ringa upp om hemsjukvarden i morgon? " * 30  # ASCII: one byte a character
    excess = len(json.dumps(message)) - 1024
    payload["contentString"] = payload["contentString"][: len(payload["contentString"]) - excess]
    return message


def post_round(port: int, bodies: list[bytes], *, threads: int, headers: dict) -> dict:
    """POST every body once from `threads` keep-alive clients; created per second and the statuses."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    work = iter(bodies)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                body = next(work, None)
            if body is None:
                return
            connection.request("POST", "/fhir/Communication", body, {"Content-Type": "application/fhir+json", **headers})
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1

    started = time.perf_counter()
    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"created_per_second": round(statuses.get(201, 0) / elapsed, 1), "statuses": statuses}


def peer_phase(command: str, *, rounds: int = 4, posts: int = 400, threads: int = 4, workers: int = 2) -> dict:
    """Alternating rounds against the adapter's sandbox and sekmet, both on SQLite."""
    with tempfile.TemporaryDirectory() as workdir:
        database_url = bench.fresh_database("sqlite", workdir)
        bench.load_directory(database_url, workdir, region_units=40, municipal_units=20, members=4)
        adapter_port = bench.free_port()
        adapter = bench.start_server(database_url, adapter_port, workers, workdir)
        sekmet_dir = os.path.join(workdir, "sekmet")
        os.mkdir(sekmet_dir)
        sekmet, sekmet_port = start_sekmet(command, sekmet_dir)
        try:
            bench.AUTH["Authorization"] = f"Bearer {bench.operator_token(database_url, workdir)}"
            setup = bench.prepare(adapter_port)
            number = iter(range(10**9))
            results = []
            for _ in range(rounds + 1):  # the first round warms both up and is not counted
                bodies = [json.dumps(one_kilobyte_message(setup, next(number))).encode() for _ in range(posts)]
                ours = post_round(adapter_port, bodies, threads=threads, headers=dict(bench.AUTH))
                theirs = post_round(sekmet_port, bodies, threads=threads, headers={})
                results.append((ours, theirs))
        finally:
            for process in (adapter, sekmet):
                process.terminate()
                process.wait(30)
    counted = results[1:]
    ours = [r[0]["created_per_second"] for r in counted]
    theirs = [r[1]["created_per_second"] for r in counted]
    return {
        "rounds": rounds, "posts_per_round": posts, "threads": threads, "body_bytes": len(bodies[0]),
        "adapter_created_per_second": round(sum(ours) / len(ours), 1),
        "sekmet_created_per_second": round(sum(theirs) / len(theirs), 1),
        "adapter_vs_sekmet": round(sum(ours) / max(sum(theirs), 1e-9), 2),
        "pairwise": [round(a / max(b, 1e-9), 2) for a, b in zip(ours, theirs)],
        "statuses": {"adapter": [r[0]["statuses"] for r in counted], "sekmet": [r[1]["statuses"] for r in counted]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sekmet", default=None, help="the sekmet executable (default: on PATH)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    command = sekmet_command(args.sekmet)
    if command is None:
        print("sekmet is not installed (pip install sekmet-fhir, or pass --sekmet PATH): nothing to compare")
        return 0
    print(json.dumps(peer_phase(command, rounds=args.rounds, posts=args.posts, threads=args.threads), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
