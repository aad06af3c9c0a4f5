"""Benchmark: Millennium inbound, 5,000 messages across 3 mirrored Groups imported by one poll.

    python -m tests.bench_millennium [--database sqlite|postgresql] [--messages 5000]
    python -m tests.bench_millennium --faults     # the outbound fault matrix, with counts

The emulator (tests/millennium_emulator.py) runs as a real HTTP server; the adapter's poller
reads it over HTTP exactly as it reads Millennium: search windows (one holding more than 1,000
messages in a single second, so it is split down and drained), a Binary read and an email-status
patch per message, each message imported in its own transaction through the flow policy. Prints
messages per second, searches, splits, and the checks (each message imported once, every
email-status completed, a second poll imports nothing). It lives under tests/ because the
emulator does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select


def _place(client, hsa: dict[str, str]) -> dict[str, str]:
    from tests.integration.millennium_helpers import add_identifier
    from tests.integration.messaging_helpers import Sandbox
    from adapter.identifiers import MILLENNIUM_GROUP, MILLENNIUM_PRACTITIONER

    inbox = Sandbox(client)
    add_identifier(client, inbox.personal(hsa["anna"]), MILLENNIUM_PRACTITIONER, hsa["anna_mid"])
    add_identifier(client, inbox.shared(hsa["alfa"]), MILLENNIUM_GROUP, hsa["alfa_group"])
    mirrors = {}
    for unit, group in hsa["mirrors"].items():
        add_identifier(client, inbox.shared(unit), MILLENNIUM_GROUP, group)
        mirrors[group] = inbox.shared(unit)
    return mirrors


class _Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def fault_matrix() -> int:
    """Each fault the emulator injects, once, on a case-start to a Millennium pool: what it ends in."""
    import random

    from adapter import migrate
    from adapter.app import create_app
    from adapter.cli import _load_sandbox
    from adapter.config import Config
    from adapter.db import make_engine
    from adapter.delivery.models import OutboxAttempt, OutboxEntry
    from adapter.delivery.worker import Worker
    from tests.helpers import operator_client, search
    from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, KOMMUN_B, MARIA, SKOLA, Sandbox, message, send
    from tests.integration.millennium_helpers import ALFA_GROUP, ANNA_MID, KOMMUN_A_GROUP, KOMMUN_B_GROUP, emulator, settings
    from tests.millennium_emulator import FAULTS

    workdir = tempfile.mkdtemp(prefix="mc-bench-millennium-faults-")
    database_url = f"sqlite:///{workdir}/faults.sqlite3"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    tenant = emulator(sleep_seconds=2.0)  # a "timeout" outlasts the client's 1 s read timeout
    tenant_base = tenant.serve()
    config = Config(database_url=database_url, public_base_url="http://127.0.0.1:8080", sandbox=True, outbound_read_timeout=1.0,
                    outbound_allow_hosts=("127.0.0.1",), millennium=settings(tenant_base))
    _load_sandbox(config)
    app = create_app(config)
    clock = _Clock()
    state = app.extensions["mc"]
    state.clock = clock
    client = operator_client(app)
    _place(client, {"anna": ANNA, "anna_mid": ANNA_MID, "alfa": ALFA, "alfa_group": ALFA_GROUP,
                    "mirrors": {KOMMUN_A: KOMMUN_A_GROUP, KOMMUN_B: KOMMUN_B_GROUP, SKOLA: "7700401"}})
    tenant.clock = clock
    inbox = Sandbox(client)
    worker = Worker(state, name="faults", rng=random.Random(4))
    cases = [(fault, "create", 1) for fault in FAULTS] + [
        ("expire-token", "patient", 1), ("503", "patient", 1), ("503", "search", 1),  # the search for a lost answer
        ("422 (unknown pool)", None, 1), ("unknown patient", None, 1), ("503", "create", 100)]  # the last: past the horizon
    rows = [("fault", "attempts", "Millennium Communications", "row", "items", "sender told")]
    ok = True
    for fault, operation, times in cases:
        patient = operation == "patient" or fault == "unknown patient"
        if fault == "unknown patient":
            saved_patients, tenant.patients = tenant.patients, {}
        if fault.startswith("422"):
            tenant.groups.discard(ALFA_GROUP)
        if operation == "search":  # the first answer is lost, then the marker search fails once
            tenant.inject("create", "drop-after-store")
        if operation:
            tenant.inject(operation, fault, times=times)
        state.registry.derived["millennium"].client._patients.clear()
        sent = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], category="case-start",
                                    sent_by=inbox.personal(MARIA), patient=patient, save=True if patient else None)).get_json()
        for _ in range(40):
            worker.run_once()
            with state.sessions() as session:
                row = session.execute(select(OutboxEntry).where(OutboxEntry.message == f"Communication/{sent['id']}")).scalar_one()
                attempts = session.execute(select(func.count()).select_from(OutboxAttempt)
                                           .where(OutboxAttempt.outbox_id == row.id)).scalar()
            if row.state in ("delivered", "dead"):
                break
            clock.now += timedelta(minutes=5) if times == 1 else timedelta(hours=2)
        tenant.groups.add(ALFA_GROUP)
        if fault == "unknown patient":
            tenant.patients = saved_patients
        copies = sum(1 for c in tenant.stored() if (c.get("topic") or {}).get("text", "").endswith(f"[mc:{sent['id']}]"))
        told = len(search(client, f"Task?owner={inbox.shared(KOMMUN_A)}&code=delivery-failure&focus=Communication/{sent['id']}"))
        [item] = [t for t in search(client, f"Task?owner={inbox.shared(ALFA)}&focus=Communication/{sent['id']}")]
        item_state = next((e["valueCode"] for e in item.get("extension", []) if e["url"].endswith("/delivery-state")), "?")
        label = (f"{fault} ({operation}{', until the 24 h horizon' if times > 1 else ''})" if operation else fault)
        tenant.faults.clear()
        rows.append((label, str(attempts), str(copies), row.state, item_state, str(told)))
        ok &= (copies == 1 and row.state == "delivered" and told == 0) or (copies == 0 and row.state == "dead" and told == 1)
    tenant.stop()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("| " + " | ".join(h for h in rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows[1:]:
        print("| " + " | ".join(r) + " |")
    del widths
    print("every fault ends in exactly one Communication or a dead letter the sender is told of" if ok else "CHECK FAILED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--faults", action="store_true", help="run the outbound fault matrix instead")
    args = parser.parse_args(argv)
    if args.faults:
        return fault_matrix()

    from adapter import migrate
    from adapter.app import create_app
    from adapter.bench.run import fresh_database
    from adapter.cli import _load_sandbox
    from adapter.config import Config
    from adapter.db import make_engine
    from adapter.millennium.inbound import Poller
    from adapter.millennium.models import MillenniumLink
    from tests.helpers import operator_client
    from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, KOMMUN_B, SKOLA
    from tests.integration.millennium_helpers import (ALFA_GROUP, ANNA_MID, KOMMUN_A_GROUP, KOMMUN_B_GROUP, emulator,
                                                      settings)

    workdir = tempfile.mkdtemp(prefix="mc-bench-millennium-")
    database_url = fresh_database(args.database, workdir)
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    tenant = emulator(sleep_seconds=0)
    school_group = "7700401"
    tenant.add_group(school_group)
    tenant_base = tenant.serve()
    config = Config(database_url=database_url, public_base_url="http://127.0.0.1:8080", sandbox=True,
                    outbound_allow_hosts=("127.0.0.1",), millennium=settings(tenant_base))
    _load_sandbox(config)
    app = create_app(config)
    mirrors = _place(operator_client(app), {"anna": ANNA, "anna_mid": ANNA_MID, "alfa": ALFA, "alfa_group": ALFA_GROUP,
                                         "mirrors": {KOMMUN_A: KOMMUN_A_GROUP, KOMMUN_B: KOMMUN_B_GROUP, SKOLA: school_group}})
    groups = list(mirrors)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    crowded = now - timedelta(minutes=30)  # 1,200 messages in one second of the first Group's window
    for n in range(args.messages):
        group = groups[n % 3] if n >= 1200 else groups[0]
        received = crowded if n < 1200 else now - timedelta(minutes=50) + timedelta(seconds=n % 2400)
        tenant.write(sender=ANNA_MID, recipients=[f"Group/{group}"], reply_to=ALFA_GROUP, text=f"Meddelande {n}",
                     topic=f"Vårdplanering {n}", received=received)

    state = app.extensions["mc"]
    poller = Poller(state, state.registry.derived["millennium"])
    started = time.perf_counter()
    polled = poller.poll_once()
    seconds = time.perf_counter() - started
    again = poller.poll_once()
    with state.sessions.begin() as session:
        links = session.execute(select(func.count()).select_from(MillenniumLink)).scalar()
    per_group = {}
    client = operator_client(app)
    for group, inbox in mirrors.items():
        per_group[group] = client.get(f"/fhir/Task?owner={inbox}&_summary=count").get_json()["total"]
    completed = sum(1 for c in tenant.communications.values() if c.email_status == "completed")
    tenant.stop()
    rows = [
        ("database", args.database),
        ("messages written in Millennium", f"{args.messages:,} across {len(groups)} Groups (1,200 in one second)"),
        ("imported / refused / unfinished", f"{polled.imported:,} / {polled.refused:,} / {len(polled.unfinished)}"),
        ("poll seconds", f"{seconds:.1f}"),
        ("imported per second", f"{polled.imported / seconds:,.0f}"),
        ("searches / window splits", f"{polled.searches} / {polled.splits}"),
        ("items per mirrored inbox", " ".join(f"Group/{g}: {n:,}" for g, n in per_group.items())),
        ("links / email-status completed", f"{links:,} / {completed:,}"),
        ("second poll imported", f"{again.imported}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    ok = (polled.imported == args.messages and links == args.messages and completed == args.messages
          and again.imported == 0 and sum(per_group.values()) == args.messages)
    print("all imported once" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
