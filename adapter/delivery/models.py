"""The outbox: what must leave the adapter, written in the same transaction as its cause."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class OutboxEntry(Base):
    """One delivery to one destination. Its id is the idempotency key the receiver sees.

    States: `pending` (waiting for `available_at`), `delivering` (claimed by a worker until
    `available_at`, the lease's end; then claimable again), `delivered`, `dead` (a dead letter:
    the payload and every attempt are kept).
    """

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)  # which Deliverer
    destination: Mapped[str] = mapped_column(String(200), nullable=False)  # "journal", "Endpoint/<id>", ...
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    message: Mapped[str | None] = mapped_column(String(130))  # "Communication/<id>": what is delivered
    sender: Mapped[str | None] = mapped_column(String(130))  # the inbox told when it fails for good
    recipient: Mapped[str | None] = mapped_column(String(130))  # the inbox it is delivered for
    item_id: Mapped[str | None] = mapped_column(String(64))  # the recipient's item (Task), which shows the state
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)  # the retry horizon's start
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    claim: Mapped[str | None] = mapped_column(String(80))  # "<worker>/<token>" of the current claim
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # The workers' claim: state IN (pending, delivering) AND available_at <= now, oldest first.
        Index("ix_outbox_due", "state", "available_at"),
        Index("ix_outbox_destination", "destination", "state"),
    )


class OutboxAttempt(Base):
    """One attempt: when, by whom, the outcome, the status and a short reason (never the body)."""

    __tablename__ = "outbox_attempt"

    outbox_id: Mapped[str] = mapped_column(String(36), ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    worker: Mapped[str] = mapped_column(String(80), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
