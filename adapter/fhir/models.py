"""Tables of the resource store: current versions, history, search indexes, unique identifiers.

A resource is stored as the JSON it was validated as; searches run on the index tables and
serve the stored JSON (DESIGN.md, "Wire").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class ResourceRow(Base):
    """The current version of a resource."""

    __tablename__ = "resource"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        Index("ix_resource_type_last_updated", "resource_type", "last_updated", "id"),
    )


class ResourceVersion(Base):
    """Every superseded version (vread and `_history`); the current one is in `resource`.

    Writing a version here only when it is replaced spares every create a second insert.
    Nothing is deleted (but purged trash, MC-R22).
    """

    __tablename__ = "resource_version"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)


class TokenIndex(Base):
    """One row per token value of a search parameter (identifier, code, boolean)."""

    __tablename__ = "search_token"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    param: Mapped[str] = mapped_column(String(64), nullable=False)
    system: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    value: Mapped[str] = mapped_column(String(255), nullable=False)

    __table_args__ = (
        Index("ix_search_token_lookup", "resource_type", "param", "value", "system", "resource_id"),
        Index("ix_search_token_owner", "resource_type", "resource_id"),
    )


class ReferenceIndex(Base):
    """One row per reference of a reference search parameter (and `_include`)."""

    __tablename__ = "search_reference"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    param: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str] = mapped_column(String(64), nullable=False)
    target_id: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_search_reference_lookup", "resource_type", "param", "target_id", "target_type", "resource_id"),
        Index("ix_search_reference_owner", "resource_type", "resource_id", "param"),
    )


class DateIndex(Base):
    """One row per date value of a search parameter, as the UTC period it covers."""

    __tablename__ = "search_date"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    param: Mapped[str] = mapped_column(String(64), nullable=False)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_search_date_lookup", "resource_type", "param", "start", "resource_id"),
        Index("ix_search_date_owner", "resource_type", "resource_id"),
    )


class UniqueIdentifier(Base):
    """Identifiers that name exactly one resource (HSA-id of a user or unit, inbox id).

    The primary key makes "exactly once" hold under concurrent writers (MC-R12, MC-R29).
    """

    __tablename__ = "unique_identifier"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    system: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (Index("ix_unique_identifier_owner", "resource_type", "resource_id"),)


class ResourceOrigin(Base):
    """The system client organisation that created a resource (results, orders, documents).

    A client sees what belongs to its own organisation: what it delivered, ordered or filed.
    Written once, with the resource's first version, for types that record their origin.
    """

    __tablename__ = "resource_origin"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_hsa_id: Mapped[str] = mapped_column(String(64), nullable=False)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)


class Setting(Base):
    """Small pieces of state the adapter generates once (signing keys, sandbox marker)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
