"""The inbox's own tables: one row per item for folders and polling, and the feed counter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base

# The partial indexes' predicates (new items are neither done nor trashed).
_DONE = text("done_at IS NOT NULL")
_TRASHED = text("trashed_at IS NOT NULL")


class InboxItem(Base):
    """A Task projected for its inbox: what polling, folders and purging read (the JSON is in `resource`).

    (feed_xid, feed_pos) is the item's place in its inbox's feed, taken anew at every change:
    on PostgreSQL the writing transaction's id and a sequence value, on SQLite 0 and a counter.
    """

    __tablename__ = "inbox_item"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(130), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    priority: Mapped[str | None] = mapped_column(String(10))
    due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assignee: Mapped[str | None] = mapped_column(String(130))
    focus: Mapped[str | None] = mapped_column(String(130))
    # A case's other party (the inbox that started it, MC-R3): it sees the case as its owner does.
    case_party: Mapped[str | None] = mapped_column(String(130))
    trashed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    feed_xid: Mapped[int] = mapped_column(BigInteger, nullable=False)
    feed_pos: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Follow-up (MC-R47, adapter/followup): when the item arrived, was first opened and was done,
    # and whether a proxy did it (MC-R45). None on items projected before migration 0018.
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by_proxy: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_inbox_item_feed", "owner", "feed_xid", "feed_pos"),
        # Only trashed items (the purge's order): a new item costs no entry here.
        Index("ix_inbox_item_trashed", "trashed_at", postgresql_where=_TRASHED, sqlite_where=_TRASHED),
        Index("ix_inbox_item_focus", "focus"),
        # The whole feed in commit order: what the subscription notifier reads (adapter/subscriptions).
        Index("ix_inbox_item_feed_all", "feed_xid", "feed_pos"),
        # Follow-up (MC-R47): an inbox's open items (by age), and those done in a period, each read from
        # the index alone (the columns the report counts are included).
        Index("ix_inbox_item_owner_status", "owner", "status",
              postgresql_include=["kind", "created_at", "last_updated", "due", "trashed_at"]),
        Index("ix_inbox_item_owner_done", "owner", "done_at", postgresql_include=["created_at", "opened_at", "done_by_proxy"],
              postgresql_where=_DONE, sqlite_where=_DONE),
    )


class FeedCounter(Base):
    """SQLite's feed position: one row, incremented inside the (serialised) writing transaction."""

    __tablename__ = "feed_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
