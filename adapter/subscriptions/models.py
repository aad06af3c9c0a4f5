"""What a subscription is beside its FHIR resource: its filter, status, event count, feed cursor and secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class SubscriptionState(Base):
    """One Subscription: who asked (for the visibility check at each notification), what it matches,
    where it goes (`headers`: secrets, never served or logged), and how far it has got."""

    __tablename__ = "subscription_state"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscriber: Mapped[str] = mapped_column(Text, nullable=False)  # the caller, as JSON
    subscriber_key: Mapped[str] = mapped_column(String(200), nullable=False)  # who may read it
    owner: Mapped[str] = mapped_column(String(130), nullable=False)  # the inbox (filter `owner`)
    codes: Mapped[str | None] = mapped_column(String(400))  # item kinds (filter `code`), space-separated
    statuses: Mapped[str | None] = mapped_column(String(200))  # Task statuses (filter `status`)
    endpoint: Mapped[str] = mapped_column(String(2000), nullable=False)
    headers: Mapped[str] = mapped_column(Text, nullable=False)  # JSON {name: value}; secrets
    content: Mapped[str] = mapped_column(String(20), nullable=False)  # empty, id-only, full-resource
    heartbeat_seconds: Mapped[int | None] = mapped_column(Integer)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    max_count: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # requested, active, error, off
    events: Mapped[int] = mapped_column(BigInteger, nullable=False)  # events-since-subscription-start
    queued: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the last event put in a notification
    # Feed positions at or before this are before the subscription started.
    start_xid: Mapped[int] = mapped_column(BigInteger, nullable=False)
    start_pos: Mapped[int] = mapped_column(BigInteger, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)  # failed attempts since the last success
    last_sent: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_subscription_state_owner", "owner"), Index("ix_subscription_state_status", "status"))


class SubscriptionEvent(Base):
    """One event of a subscription: its number (consecutive, in feed commit order) and the item it is about."""

    __tablename__ = "subscription_event"

    subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int | None] = mapped_column(Integer)  # the Task's version the event is about (None: before 0017)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SubscriptionCursor(Base):
    """How far the notifier has read the inbox feed (one row)."""

    __tablename__ = "subscription_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_xid: Mapped[int] = mapped_column(BigInteger, nullable=False)
    feed_pos: Mapped[int] = mapped_column(BigInteger, nullable=False)
