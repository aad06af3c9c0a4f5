"""Proxy grants: a principal's personal inbox handled by a proxy for a fixed period (MC-R41)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class ProxyGrant(Base):
    """One grant; never deleted, revoked by stamping `revoked_at`."""

    __tablename__ = "proxy_grant"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(64), nullable=False)  # Practitioner id
    proxy_id: Mapped[str] = mapped_column(String(64), nullable=False)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    acknowledged_operations: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_proxy_grant_proxy", "proxy_id", "principal_id"),
        Index("ix_proxy_grant_principal", "principal_id"),
    )
