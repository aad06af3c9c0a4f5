"""Worker processes on PostgreSQL: two workers share the outbox, a killed worker and a restarted
database lose nothing. Real `mc-adapter worker` processes deliver to a real local receiver."""

import json
import os
import signal
import subprocess
import tempfile
import time

import pytest
from sqlalchemy import func, select

from adapter.bench.receiver import Receiver
from adapter.config import Config
from adapter.delivery.models import OutboxAttempt, OutboxEntry
from adapter.delivery.outbox import Delivery, enqueue
from tests.e2e.processes import spawn

pytestmark = pytest.mark.usefixtures("postgresql_only")


def _enqueue(app, count: int) -> list[str]:
    state = app.extensions["mc"]
    ids: list[str] = []
    for start in range(0, count, 250):
        with state.sessions.begin() as session:
            ids += enqueue(session, deliveries=[
                Delivery("fhir-communication", "receiver", {
                    "resourceType": "Communication", "id": f"c{n}", "status": "completed",
                    "identifier": [{"system": "urn:example:bench", "value": f"m{n}"}]})
                for n in range(start, min(start + 250, count))], now=state.clock())
    return ids


def _worker(database_url: str, receiver: Receiver, name: str, *, lease: int = 120, threads: int = 2) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({
        "MC_DATABASE_URL": database_url, "MC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "MC_DESTINATIONS": json.dumps({"receiver": {"url": receiver.url}}), "MC_DELIVERY_LEASE_SECONDS": str(lease),
        "MC_DELIVERY_BASE_DELAY_SECONDS": "0.2", "MC_DELIVERY_MAX_DELAY_SECONDS": "2",
    })
    return spawn(["worker", "--name", name, "--threads", str(threads)], env=env, cwd=tempfile.gettempdir(),
                 name=f"delivery-worker-{name}-{os.getpid()}")


def _states(app) -> dict[str, int]:
    with app.extensions["mc"].sessions() as session:
        return dict(session.execute(select(OutboxEntry.state, func.count()).group_by(OutboxEntry.state)).all())


def _wait_until_done(app, total: int, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = _states(app)
        except Exception:  # the database is restarting
            time.sleep(0.5)
            continue
        if states.get("delivered", 0) + states.get("dead", 0) == total:
            return states
        time.sleep(0.2)
    pytest.fail(f"not delivered in {timeout} s: {_states(app)}")


def _stop(*processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(receiver: Receiver, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.counts) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_two_workers_deliver_a_thousand_rows_each_exactly_once(app, database_url):
    receiver = Receiver().start()
    ids = _enqueue(app, 1000)
    workers = [_worker(database_url, receiver, "w1"), _worker(database_url, receiver, "w2")]
    try:
        assert _wait_until_done(app, 1000, timeout=120) == {"delivered": 1000}
    finally:
        _stop(*workers)
        receiver.stop()
    assert set(receiver.counts) == set(ids)
    assert max(receiver.counts.values()) == 1  # nothing delivered twice
    with app.extensions["mc"].sessions() as session:
        by_worker = dict(session.execute(select(OutboxAttempt.worker, func.count()).group_by(OutboxAttempt.worker)).all())
    assert set(by_worker) == {"w1", "w2"} and sum(by_worker.values()) == 1000  # both worked, one attempt per row


def test_a_worker_killed_mid_batch_loses_nothing(app, database_url):
    receiver = Receiver(delay_seconds=0.01).start()
    ids = _enqueue(app, 600)
    killed = _worker(database_url, receiver, "killed", lease=3)
    _wait_for(receiver, 150)
    # The receiver stops answering, so the worker is surely mid-batch (its rows claimed) when it is
    # killed: a kill that landed between two batches left nothing to take over on a loaded CI machine.
    receiver.delay_seconds = 20
    time.sleep(0.5)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    receiver.delay_seconds = 0.01
    survivor = _worker(database_url, receiver, "survivor", lease=3)
    try:
        assert _wait_until_done(app, 600, timeout=120) == {"delivered": 600}
    finally:
        _stop(survivor)
        receiver.stop()
    assert set(receiver.counts) == set(ids)  # every row arrived
    repeats = sum(c - 1 for c in receiver.counts.values())
    assert repeats <= 2 * Config().delivery_batch  # at most what the killed worker had in flight (threads x batch)
    with app.extensions["mc"].sessions() as session:
        expired = session.scalar(select(func.count()).select_from(OutboxAttempt).where(OutboxAttempt.reason.like("claim expired%")))
    assert expired >= 1  # the rows it held were taken over after their lease, and the lost attempts are on record
    print(f"\nkilled worker: sent 600, delivered {len(receiver.counts)}, duplicates {repeats}, taken over {expired}, dead 0")


def _restart_postgresql(gap_seconds: float) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"], check=True, timeout=60)
    time.sleep(gap_seconds)
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True, timeout=60)


def test_a_database_restart_mid_run_loses_nothing(app, database_url):
    if not os.path.isdir("/etc/postgresql") or os.geteuid() != 0 or "127.0.0.1" not in database_url:
        pytest.skip("restarts the local PostgreSQL cluster: needs pg_ctlcluster and root")
    receiver = Receiver(delay_seconds=0.005).start()
    ids = _enqueue(app, 1000)
    workers = [_worker(database_url, receiver, "w1"), _worker(database_url, receiver, "w2")]
    try:
        _wait_for(receiver, 200)
        _restart_postgresql(gap_seconds=5)
        app.extensions["mc"].engine.dispose()
        assert _wait_until_done(app, 1000, timeout=180) == {"delivered": 1000}
        assert all(w.poll() is None for w in workers)  # the workers survived it
    finally:
        _stop(*workers)
        receiver.stop()
    assert set(receiver.counts) == set(ids)
    repeats = sum(c - 1 for c in receiver.counts.values())
    print(f"\ndatabase restart: sent 1000, delivered {len(receiver.counts)}, duplicates {repeats}, dead 0")
