"""Directory load at VGR's size: wall time and peak memory of `directory load`.

    python -m adapter.bench.directory_load --units 5000 --practitioners 60000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Generates a synthetic transaction Bundle (one verksamhet per 50 units, a role per practitioner
with membership of its unit's samverkan inbox), loads it into a fresh schema in a child
process, then loads it again (idempotence: nothing should change), and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

BASE = "https://meddelandecenter-adapter.github.io/fhir"
HSA = "urn:oid:1.2.752.29.4.19"


def _write_bundle(path: str, *, units: int, practitioners: int) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"resourceType":"Bundle","type":"batch","entry":[')

        def emit(full_url: str, resource: dict) -> None:
            nonlocal count
            out.write(("," if count else "") + json.dumps({"fullUrl": full_url, "resource": resource,
                                                           "request": {"method": "POST", "url": resource["resourceType"]}}))
            count += 1

        def org(hsa: str, kind: str, name: str, part_of: str | None = None) -> dict:
            r = {"resourceType": "Organization", "identifier": [{"system": HSA, "value": hsa}], "active": True, "name": name,
                 "type": [{"coding": [{"system": f"{BASE}/CodeSystem/organization-kind", "code": kind}]}]}
            if part_of:
                r["partOf"] = {"reference": part_of}
            return r

        for v in range(units // 50 + 1):
            emit(f"urn:uuid:v-{v}", org(f"SE2321000131-V{v:011d}", "verksamhet", f"Verksamhet {v}"))
        for u in range(units):
            kind = "municipality" if u % 10 == 0 else "region-unit"
            emit(f"urn:uuid:u-{u}", org(f"SE2321000131-E{u:011d}", kind, f"Enhet {u}", f"urn:uuid:v-{u // 50}"))
        for p in range(practitioners):
            emit(f"urn:uuid:p-{p}", {"resourceType": "Practitioner", "identifier": [{"system": HSA, "value": f"SE2321000131-P{p:011d}"}],
                                     "active": True, "name": [{"family": f"Testsson {p}", "given": ["Test"]}]})
            unit = p % units
            emit(f"urn:uuid:r-{p}", {
                "resourceType": "PractitionerRole", "active": True,
                "practitioner": {"reference": f"urn:uuid:p-{p}"}, "organization": {"reference": f"urn:uuid:u-{unit}"},
                "code": [{"coding": [{"system": f"{BASE}/CodeSystem/role", "code": "sjukskoterska" if p % 3 else "lakare"}]}],
                "healthcareService": [{"type": "HealthcareService", "identifier": {
                    "system": f"{BASE}/NamingSystem/inbox", "value": f"SE2321000131-E{unit:011d}#samverkan"}}],
            })
        out.write("]}")
    return count


def _load(database_url: str, path: str, batch_size: int) -> dict:
    """Run one load in a child process; return its figures (wall time and the child's peak RSS)."""
    code = (
        "import json,resource,sys,time\n"
        "from adapter.app import create_app\n"
        "from adapter.config import Config\n"
        "from adapter.directory.loader import adapter_context, load_directory\n"
        f"state = create_app(Config(database_url={database_url!r})).extensions['mc']\n"
        "t = time.perf_counter()\n"
        f"r = load_directory(path={path!r}, make_context=lambda: adapter_context(state), batch_size={batch_size})\n"
        "print(json.dumps({'seconds': round(time.perf_counter() - t, 1), 'created': r.created, 'updated': r.updated,"
        " 'unchanged': r.unchanged, 'failed': len(r.failed), 'first_failures': r.failed[:3],"
        " 'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fresh_schema(database_url: str) -> None:
    from sqlalchemy import text

    from adapter import migrate
    from adapter.db import make_engine

    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate.upgrade(engine)
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--practitioners", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", dest="json_file", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{os.path.join(tmp, 'bench.sqlite3')}"
        bundle = os.path.join(tmp, "directory.json")
        entries = _write_bundle(bundle, units=args.units, practitioners=args.practitioners)
        _fresh_schema(database_url)
        first = _load(database_url, bundle, args.batch_size)
        second = _load(database_url, bundle, args.batch_size)
    figures = {
        "database": database_url.split(":")[0], "entries": entries, "bundle_batch_size": args.batch_size,
        "first_load": first, "second_load": second,
        "entries_per_second_first": round(entries / max(first["seconds"], 0.001)),
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(figures, indent=2))
    if args.json_file:
        with open(args.json_file, "w") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
