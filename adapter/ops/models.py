"""Periodic jobs' state: one row per job, the cluster-wide lock and the last run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class PeriodicJobState(Base):
    """A periodic job (e.g. the MC-R22 trash purge): who holds it, until when, and how its last run went.

    A worker runs a job only after winning a conditional UPDATE of this row (free lease and
    interval passed), so several workers on several hosts run each job once per interval.
    """

    __tablename__ = "periodic_job"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_by: Mapped[str | None] = mapped_column(String(80))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(16))  # ok, failed
    last_detail: Mapped[str | None] = mapped_column(String(200))  # counts and error class only, never data
    runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
