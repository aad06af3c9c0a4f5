"""System clients (SMART Backend Services) and the assertions they have used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class Client(Base):
    """A registered system client, bound to one organisation, with its public keys and scopes."""

    __tablename__ = "auth_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_hsa_id: Mapped[str] = mapped_column(String(64), nullable=False)
    jwks: Mapped[str] = mapped_column(Text, nullable=False)  # the client's JWK Set (public keys)
    scopes: Mapped[str] = mapped_column(Text, nullable=False)  # space-separated SMART system scopes
    # Space-separated roles of mappings/client_capabilities.csv (e.g. "ehr result-source").
    capabilities: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class UsedAssertion(Base):
    """A client assertion's `jti`, kept until the assertion expires: a replay is refused."""

    __tablename__ = "auth_used_assertion"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_auth_used_assertion_expiry", "expires_at"),)
