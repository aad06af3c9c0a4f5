"""What the connector remembers: which Millennium Communication is which message, and where each poll got to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class MillenniumLink(Base):
    """One Millennium Communication and what it is here.

    `out`: a message the connector created there (the id from `Location`), so that a Millennium
    reply's `inResponseTo` finds the message and case it answers. `in`: one the poller handled,
    imported (`communication_id` set) or refused (`outcome` names the rule): never handled twice.
    """

    __tablename__ = "millennium_link"

    millennium_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)  # "out" or "in"
    communication_id: Mapped[str | None] = mapped_column(String(64))  # ours
    outcome: Mapped[str] = mapped_column(String(40), nullable=False)  # "sent", "imported", "refused MC-R7", ...
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_millennium_link_communication", "communication_id"),)


class MillenniumCursor(Base):
    """How far the poll of one mirrored Group and category has read (`received` up to `through`)."""

    __tablename__ = "millennium_cursor"

    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    through: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
