"""What each AuditEvent touched, for the revisor's searches (the event's JSON is in `resource`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class AuditEntity(Base):
    """One row per thing an event touched: a resource ("Communication/<id>"), a patient
    ("patient|<system>|<value>") or the agent ("agent|<reference or client id>")."""

    __tablename__ = "audit_entity"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    entity: Mapped[str] = mapped_column(String(400), nullable=False)
    recorded: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_audit_entity_lookup", "entity", "recorded", "event_id"),)
