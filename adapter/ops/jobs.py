"""Periodic jobs without cron: `mc-adapter worker` runs each registered job once per interval
across the cluster.

Why once: before running, a worker wins the job's row in `periodic_job` with one conditional
UPDATE (the lease is free or expired, and the interval has passed since the last success or
failure). The database decides between workers on any number of hosts; a worker that dies
mid-run loses the job when its lease ends, and another takes it. The row keeps the last run
(when, how, counts) for `/readyz` and the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from adapter.db import as_utc
from adapter.fhir.registry import PeriodicJob
from adapter.ops.models import PeriodicJobState

log = logging.getLogger("adapter.jobs")
STATE = PeriodicJobState.__table__


def ensure_rows(sessions, jobs) -> None:
    """One row per job (inserted once; a concurrent insert by another worker is fine)."""
    for job in jobs:
        try:
            with sessions.begin() as session:
                if session.execute(select(STATE.c.name).where(STATE.c.name == job.name)).first() is None:
                    session.execute(insert(STATE).values(name=job.name, runs=0))
        except IntegrityError:
            pass


def claim(session, job: PeriodicJob, *, now: datetime, worker: str) -> bool:
    """Take the job for one run if it is due and no one holds it; True when this worker runs it."""
    due = now - timedelta(seconds=job.interval_seconds)
    taken = session.execute(
        update(STATE)
        .where(STATE.c.name == job.name,
               or_(STATE.c.locked_until.is_(None), STATE.c.locked_until < now),
               or_(STATE.c.last_finished.is_(None), STATE.c.last_finished <= due))
        .values(locked_by=worker, locked_until=now + timedelta(seconds=job.lease_seconds), last_started=now)
    )
    return taken.rowcount == 1


def renew(session, job: PeriodicJob, *, now: datetime, worker: str, ok: bool, detail: str) -> bool:
    """Extend this worker's lease on a job it keeps running, recording the last run; False when it lost the lease."""
    values = dict(locked_until=now + timedelta(seconds=job.lease_seconds), last_finished=now,
                  last_status="ok" if ok else "failed", last_detail=detail[:200], runs=STATE.c.runs + 1)
    if ok:
        values["last_success"] = now
    renewed = session.execute(update(STATE).where(STATE.c.name == job.name, STATE.c.locked_by == worker).values(**values))
    return renewed.rowcount == 1


def run_leased(app_state, job: PeriodicJob, stop: threading.Event, *, worker: str, run: Callable[[], str],
               pause: float, renew_seconds: float = 10.0) -> None:
    """Run `run()` every `pause` seconds for as long as this worker holds `job`'s lease, until `stop`.

    For work one worker of the cluster does continuously (the subscription notifier, the Millennium
    poll): the lease is claimed once and renewed (with the last run's outcome, for `/readyz`) at
    most every `renew_seconds`; a worker that dies loses it when it lapses, and another takes over.
    """
    ensure_rows(app_state.sessions, [job])
    while not stop.is_set():
        try:
            with app_state.sessions.begin() as session:
                mine = claim(session, job, now=app_state.clock(), worker=worker)
            if mine:
                _keep(app_state, job, stop, worker=worker, run=run, pause=pause, renew_seconds=renew_seconds)
        except SQLAlchemyError as exc:  # the database away: try again shortly
            log.warning("%s: database unavailable (%s)", job.name, type(exc).__name__)
        stop.wait(min(pause, 5.0))


def _keep(app_state, job: PeriodicJob, stop: threading.Event, *, worker: str, run, pause: float, renew_seconds: float) -> None:
    renewed = time.monotonic()
    ok, detail = True, ""
    while not stop.is_set():
        try:
            ok, detail = True, run() or ""
        except SQLAlchemyError:
            raise
        except Exception as exc:  # recorded; the next run starts from what is stored
            ok, detail = False, f"failed: {type(exc).__name__}"
            log.error("%s failed: %s", job.name, type(exc).__name__)
        if time.monotonic() - renewed >= renew_seconds:
            with app_state.sessions.begin() as session:
                if not renew(session, job, now=app_state.clock(), worker=worker, ok=ok, detail=detail):
                    return  # the lease lapsed and another worker holds it now
            renewed = time.monotonic()
        stop.wait(pause)
    with app_state.sessions.begin() as session:
        finish(session, job, now=app_state.clock(), worker=worker, ok=ok, detail=detail or "stopped")


def finish(session, job: PeriodicJob, *, now: datetime, worker: str, ok: bool, detail: str) -> None:
    """Record the run and free the job (only if this worker still holds it)."""
    values = dict(locked_by=None, locked_until=None, last_finished=now, last_status="ok" if ok else "failed",
                  last_detail=detail[:200], runs=STATE.c.runs + 1)
    if ok:
        values["last_success"] = now
    session.execute(update(STATE).where(and_(STATE.c.name == job.name, STATE.c.locked_by == worker)).values(**values))


def run_due(app_state, *, worker: str) -> list[str]:
    """Run every job that is due and free now; the names of those this worker ran."""
    ran = []
    for job in app_state.registry.periodic_jobs.values():
        with app_state.sessions.begin() as session:
            if not claim(session, job, now=app_state.clock(), worker=worker):
                continue
        ok, detail = True, ""
        try:
            detail = job.run(app_state.sessions, app_state.clock()) or ""
        except Exception as exc:  # a failed run is recorded and retried at the next interval
            ok, detail = False, f"failed: {type(exc).__name__}"
            log.error("periodic job %s failed: %s", job.name, type(exc).__name__)
        with app_state.sessions.begin() as session:
            finish(session, job, now=app_state.clock(), worker=worker, ok=ok, detail=detail)
        log.info("periodic job %s: %s", job.name, detail or "done")
        _count_run(job.name, ok)
        ran.append(job.name)
    return ran


def _count_run(name: str, ok: bool) -> None:
    from adapter.ops.metrics import process_metrics

    process_metrics().job_runs.labels(name, "ok" if ok else "failed").inc()


def last_runs(session) -> dict[str, dict]:
    """Each job's last run, for `/readyz` and the metrics (no data: times, status, counts)."""
    rows = session.execute(select(STATE)).mappings().all()
    return {row["name"]: {
        "lastSuccess": _iso(row["last_success"]), "lastFinished": _iso(row["last_finished"]),
        "status": row["last_status"], "detail": row["last_detail"], "runs": row["runs"]} for row in rows}


def _iso(value):
    return as_utc(value).isoformat() if value is not None else None


def run_forever(app_state, stop: threading.Event, *, worker: str, tick_seconds: float = 30.0) -> None:
    """The workers' scheduler thread: look for due jobs every `tick_seconds` until `stop`."""
    ensure_rows(app_state.sessions, app_state.registry.periodic_jobs.values())
    while not stop.is_set():
        try:
            run_due(app_state, worker=worker)
        except SQLAlchemyError as exc:
            log.warning("periodic jobs: database unavailable (%s)", type(exc).__name__)
        stop.wait(tick_seconds)
