"""Messaging's own tables: the duplicate key, threads, and messages waiting for the EHR."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class MessageKey(Base):
    """A sender's identifier for a message: a retry finds the original (DESIGN.md, duplicate key).

    The primary key makes two concurrent deliveries of the same message store one.
    """

    __tablename__ = "message_key"

    sender: Mapped[str] = mapped_column(String(130), primary_key=True)  # "HealthcareService/<id>"
    system: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    communication_id: Mapped[str] = mapped_column(String(64), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class ThreadMember(Base):
    """Which thread a message belongs to, and whether it is saved to the journal (MC-R8)."""

    __tablename__ = "message_thread"

    communication_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64), nullable=False)
    save_to_journal: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = (Index("ix_message_thread_thread", "thread_id", "save_to_journal"),)


class JournalForward(Base):
    """A message flagged save-to-journal, recorded for forwarding to the EHR (MC-R6, MC-R8)."""

    __tablename__ = "journal_forward"

    communication_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")

    __table_args__ = (Index("ix_journal_forward_pending", "state", "queued_at"),)
