"""Benchmark: the follow-up report (MC-R47) over a generated month of traffic.

    python -m adapter.bench.followup [--database postgresql|sqlite] [--items 1000000] [--units 1000] [--days 30]

A fresh database with `--units` units of two shared inboxes each (meddelande, samverkan) in 20
verksamheter, and `--items` inbox items spread over them and over the last 90 days (kinds as
in a region's traffic: messages, results, consults, FK questions; four in five done, one in
twenty of those by a proxy), and the watches of the last `--days` days (most working days
watched, some parts missed). Prints the time of the report (one unit, one verksamhet, the
region, each for the month; median of 5 runs) and the month's figures region-wide.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, text

from adapter import migrate
from adapter.auth.caller import ADAPTER
from adapter.bench.run import fresh_database
from adapter.config import Config
from adapter.context import Context
from adapter.db import make_engine, make_session_factory
from adapter.directory.inboxes import Inbox
from adapter.directory.models import InboxEntry
from adapter.fhir.models import ResourceRow
from adapter.followup import calendar, report
from adapter.followup.models import InboxWatch
from adapter.followup.watches import window_of
from adapter.inbox.models import InboxItem

KINDS = (("message", 0.55), ("result", 0.25), ("consult", 0.08), ("fk-question", 0.04), ("reminder", 0.08))


def _kind(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for kind, share in KINDS:
        total += share
        if roll < total:
            return kind
    return "message"


def _directory_rows(units: int) -> list[dict]:
    rows = []
    for u in range(units):
        for suffix, kind in (("meddelande", "unit-meddelande"), ("samverkan", "unit-samverkan")):
            rows.append({"reference": f"HealthcareService/bench-{u}-{suffix}", "kind": kind, "party": "care", "active": True,
                         "organization_id": f"bench-unit-{u}", "organization_hsa_id": f"SE2321000131-E{u:06d}",
                         "providers": "SE2321000131", "endpoint": None, "millennium": None})
    return rows


def _inbox_resources(directory: list[dict], now: datetime) -> list[dict]:
    rows = []
    for entry in directory:
        resource_id = entry["reference"].split("/", 1)[1]
        resource = {"resourceType": "HealthcareService", "id": resource_id, "meta": {"versionId": "1"}, "active": True,
                    "name": f"{entry['kind'].removeprefix('unit-').capitalize()} {entry['organization_id']}",
                    "providedBy": {"reference": f"Organization/{entry['organization_id']}"}}
        rows.append({"resource_type": "HealthcareService", "id": resource_id, "version": 1, "last_updated": now,
                     "content": json.dumps(resource)})
    return rows


def _items(rng: random.Random, inboxes: list[str], count: int, now: datetime):
    for n in range(count):
        created = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        opened = created + timedelta(hours=rng.expovariate(1 / 6)) if rng.random() < 0.9 else None
        done = (opened or created) + timedelta(hours=rng.expovariate(1 / 20)) if opened and rng.random() < 0.9 else None
        if done and done > now:
            done = None
        if opened and opened > now:
            opened = None
        yield (f"bench-item-{n}", rng.choice(inboxes), _kind(rng), "completed" if done else ("in-progress" if opened else "requested"),
               created, created, 0, n + 1, opened, done, bool(done) and rng.random() < 0.05)


def _watches(rng: random.Random, inboxes: list[str], days: int, now: datetime):
    for inbox in inboxes:
        for d in range(days):
            day = (now - timedelta(days=d)).replace(hour=7, minute=0, second=0, microsecond=0)
            if day.weekday() >= 5:
                continue
            for hour in sorted(rng.sample(range(9), rng.choice((0, 1, 2, 3, 3, 3, 4)))):
                yield inbox, window_of(day + timedelta(hours=hour, minutes=rng.randrange(60))), "member"


def _load(engine, items, watches) -> None:
    columns = ("task_id", "owner", "kind", "status", "last_updated", "created_at", "feed_xid", "feed_pos", "opened_at",
               "done_at", "done_by_proxy")
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY inbox_item ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in items:
                        copy.write_row(row)
                with cursor.copy("COPY inbox_watch (inbox, window_start, watcher) FROM STDIN") as copy:
                    for row in watches:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    batch: list[dict] = []
    with engine.begin() as connection:
        for row in items:
            batch.append(dict(zip(columns, row)))
            if len(batch) == 20_000:
                connection.execute(insert(InboxItem), batch)
                batch = []
        if batch:
            connection.execute(insert(InboxItem), batch)
        connection.execute(insert(InboxWatch), [{"inbox": i, "window_start": w, "watcher": k} for i, w, k in set(watches)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)

    rng = random.Random(19)
    now = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    database_url = fresh_database(args.database, tempfile.mkdtemp(prefix="mc-bench-followup-"))
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    directory = _directory_rows(args.units)
    with engine.begin() as connection:
        connection.execute(insert(InboxEntry), directory)
        connection.execute(insert(ResourceRow), _inbox_resources(directory, now))  # the report names each inbox
    inboxes = [r["reference"] for r in directory]
    began = time.perf_counter()
    _load(engine, _items(rng, inboxes, args.items, now), list(_watches(rng, inboxes, args.days, now)))
    if engine.dialect.name == "postgresql":  # as autovacuum keeps a store in service (its visibility map: index-only scans)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE inbox_item"))
            connection.execute(text("VACUUM ANALYZE inbox_watch"))
    loaded = time.perf_counter() - began
    sessions = make_session_factory(engine)
    settings = report.settings_from(Config(database_url=database_url))
    end = calendar.local_date(now)
    start = end - timedelta(days=args.days - 1)
    as_inbox = {r["reference"]: Inbox(r["reference"], r["kind"], r["party"], True, r["organization_id"], r["organization_hsa_id"])
                for r in directory}
    per_verksamhet = max(1, args.units // 20)
    scopes = {"one unit (2 inboxes)": inboxes[:2], f"one verksamhet ({2 * per_verksamhet} inboxes)": inboxes[:2 * per_verksamhet],
              f"the region ({len(inboxes)} inboxes)": inboxes}
    timings, region = {}, None
    for name, chosen in scopes.items():
        runs = []
        for _ in range(5):
            with sessions() as session:
                ctx = Context(session=session, config=None, registry=None, validator=None, caller=ADAPTER, clock=lambda: now)
                t = time.perf_counter()
                figures = report.report(ctx, inboxes=[as_inbox[i] for i in chosen], start=start, end=end, settings=settings)
                runs.append(time.perf_counter() - t)
        timings[name] = statistics.median(runs)
        region = figures
    assert region is not None
    days_open = sum(i["compliance"]["open_days"] for i in region["inboxes"])
    days_ok = sum(i["compliance"]["compliant_days"] for i in region["inboxes"])
    done = sum(i["handled"]["done"] for i in region["inboxes"])
    by_proxy = sum(i["handled"]["by_proxy"] for i in region["inboxes"])
    open_total = sum(i["open_items"]["total"] for i in region["inboxes"])
    overdue = {k: sum(i["overdue"][k] for i in region["inboxes"]) for k in region["inboxes"][0]["overdue"]}
    samverkan = [i for i in region["inboxes"] if i["inbox_kind"] == "unit-samverkan"]
    medians = sorted(i["handled"]["time_to_done_hours"]["p50"] for i in region["inboxes"] if i["handled"]["time_to_done_hours"]["p50"])
    rows = [("database / items / inboxes / days", f"{args.database} / {args.items:,} / {len(inboxes):,} / {args.days}"),
            ("load seconds (items and watches)", f"{loaded:.1f}"),
            *[(f"report time, {name}, ms (median of 5)", f"{seconds * 1000:.0f}") for name, seconds in timings.items()],
            ("open inbox-days / compliant", f"{days_open:,} / {days_ok:,} ({days_ok / max(days_open, 1):.0%})"),
            ("samverkan compliant days", f"{sum(i['compliance']['compliant_days'] for i in samverkan):,} of "
                                         f"{sum(i['compliance']['open_days'] for i in samverkan):,}"),
            ("items done in the period / by proxies", f"{done:,} / {by_proxy:,}"),
            ("open items now", f"{open_total:,}"),
            ("overdue now", ", ".join(f"{k} {v:,}" for k, v in overdue.items())),
            ("time to done p50 across inboxes (median, hours)", f"{statistics.median(medians):.1f}" if medians else "-")]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
