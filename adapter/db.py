"""Engine and session set-up. Nothing is created at import time: `make_engine(config)`."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timezone

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names, so that Alembic migrations are reproducible on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Whether the current unit of work will write. On SQLite a writing transaction starts with
# BEGIN IMMEDIATE so that two writers queue on the busy timeout instead of one failing with
# "database is locked" when it upgrades a read lock; reads start a deferred transaction.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=True)


class Base(DeclarativeBase):
    """Declarative base of every table of the adapter."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored instant is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """Create the engine for `database_url` with the settings each backend needs."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    # psycopg prepares a statement after five executions, and PostgreSQL may then settle on a
    # generic plan made while a table was small (a seq scan) and keep it as the table grows:
    # a directory load went from 0.1 ms to 1.2 ms per identifier lookup that way. Custom plans
    # see the table's real size every time; parsing is still saved by the prepared statement.
    return create_engine(
        database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        # UTC sessions: every instant is stored and read as UTC, including the calendar's last one
        # (a session zone east of UTC could not return 9999-12-31T23:59:59Z as a Python datetime).
        connect_args={"options": "-c plan_cache_mode=force_custom_plan -c timezone=UTC"},
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT (used by batch Bundles); the
    # SQLAlchemy-documented recipe takes transaction control over.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never autoflush surprises into reads and keep objects after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
