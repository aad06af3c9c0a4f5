"""Messaging's own tables: each message's key and thread, and messages waiting for the EHR."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class Message(Base):
    """One row per stored message: the sender's duplicate key, its thread, its journal flag.

    The unique key (sender, system, value) makes two concurrent deliveries of the same
    message store one (DESIGN.md, duplicate key); the thread index answers "is this thread
    saved to the journal?" (MC-R8).
    """

    __tablename__ = "message"

    communication_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender: Mapped[str] = mapped_column(String(130), nullable=False)  # "HealthcareService/<id>"
    system: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str] = mapped_column(String(255), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    thread_id: Mapped[str] = mapped_column(String(64), nullable=False)
    save_to_journal: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = (
        UniqueConstraint("sender", "system", "value", name="uq_message_sender_key"),
        Index("ix_message_thread", "thread_id", "save_to_journal"),
    )


class JournalForward(Base):
    """A message flagged save-to-journal, recorded for forwarding to the EHR (MC-R6, MC-R8)."""

    __tablename__ = "journal_forward"

    communication_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")

    __table_args__ = (Index("ix_journal_forward_pending", "state", "queued_at"),)
