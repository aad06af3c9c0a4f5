"""Watches: one row per inbox and watch window in which someone who answers for it looked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class InboxWatch(Base):
    """Someone who answers for the inbox opened its list or polled it in this window (no patient data)."""

    __tablename__ = "inbox_watch"

    inbox: Mapped[str] = mapped_column(String(130), primary_key=True)  # HealthcareService/<id> or Practitioner/<id>
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    watcher: Mapped[str] = mapped_column(String(20), nullable=False)  # member, system, owner or proxy: who watched first
