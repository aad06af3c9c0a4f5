"""Engine and session set-up. Nothing is created at import time: `make_engine(config)`."""

from __future__ import annotations

import os
import select
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from sqlalchemy import MetaData, any_, bindparam, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine, create_engine, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from adapter import writes
from adapter.wal_checkpoints import WalCheckpointer
from adapter.writer_turn import WriterTurn, connection_class

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
# Whether a writing unit of work may read from a snapshot taken before its first write: on
# SQLite its write lock is then taken at that first write (with its deferred inserts, at the
# commit) instead of at its first read, so routing a message no longer holds every other
# writer off (issue #17). Reads before the first write see what was committed when they began,
# as under PostgreSQL's READ COMMITTED; only units of work whose reads allow it opt in
# (`ResourceDefinition.reads_committed`). PostgreSQL needs nothing: it runs READ COMMITTED.
snapshot_reads: ContextVar[bool] = ContextVar("snapshot_reads", default=False)
_SNAPSHOT = "mc_snapshot_reads"
# What a statement that only reads starts with (anything else, SAVEPOINT included, writes).
_READING = ("SELECT", "PRAGMA", "EXPLAIN")


@contextmanager
def begin_writing(sessions):
    """A transaction of its own that will write, whatever the request's intent (BEGIN IMMEDIATE on SQLite).

    A read transaction that then writes fails at once on SQLite ("database is locked", no busy wait)
    when another process wrote since it read; a writer queues on the busy timeout instead.
    """
    intent = write_intent.set(True)
    try:
        with sessions.begin() as session:
            yield session
    finally:
        write_intent.reset(intent)


class Base(DeclarativeBase):
    """Declarative base of every table of the adapter."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored instant is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def among(session, column, values):
    """`column IN values`; on PostgreSQL `column = ANY(array)`: one parameter, not one per value (long lists)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def read_beside(session, function):
    """Start `function(other_session)` on a second pooled connection, read-only in a transaction of
    its own, while the caller goes on with `session`; `.result()` waits for it (and raises what it
    raised). On SQLite (one writer file, the embedded default) it runs here and now.

    For long reads of committed data that need no snapshot shared with the caller (a report's
    independent figures): two PostgreSQL backends compute them at once.
    """
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        done: Future = Future()
        done.set_result(function(session))
        return done

    def run():
        with Session(bind=engine) as other:
            try:
                custom_plans(other)  # long reads: planned for their parameters
                return function(other)
            finally:
                other.rollback()  # it only read

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mc-read-beside")
    try:
        return executor.submit(run)
    finally:
        executor.shutdown(wait=False)  # the thread ends with its one task


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """Create the engine for `database_url` with the settings each backend needs."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args=_sqlite_connect_args(database_url))
        _configure_sqlite(engine)
        writes.install(engine)
        return engine
    # Plans are cached (PostgreSQL's default, `auto`): a message's read and its write are the same
    # few statements every time, and re-planning them per execution cost PostgreSQL about 0.25 ms
    # a message (0.36 of the adapter's CPU against 0.29 with cached plans, issue #17). Where a
    # table grows within a session and a generic plan made while it was small would stay (a
    # directory load), `custom_plans` asks for fresh plans.
    engine = create_engine(
        database_url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
        # UTC sessions: every instant is stored and read as UTC, including the calendar's last one
        # (a session zone east of UTC could not return 9999-12-31T23:59:59Z as a Python datetime).
        connect_args={"options": "-c plan_cache_mode=auto -c timezone=UTC"},
    )
    writes.install(engine)
    _check_pooled_connections(engine)
    return engine


def custom_plans(session) -> None:
    """Plan this transaction's statements afresh each time (PostgreSQL; a no-op elsewhere).

    psycopg prepares a statement after five executions, and PostgreSQL may then settle on a
    generic plan made while a table was small (a seq scan) and keep it as the table grows
    within the load: a directory load went from 0.1 ms to 1.2 ms per identifier lookup that way.
    Custom plans see the table's real size every time; for a bulk load or a report that is worth
    its planning time.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


# A connection idle this long is pinged before use: a silent network drop sends no FIN.
IDLE_PING_SECONDS = 30.0


def _check_pooled_connections(engine: Engine) -> None:
    """Hand out only live connections, without a round trip per request.

    `pool_pre_ping` costs a `SELECT 1` on every checkout, i.e. every request (16% of an ingest
    request's time, issue #17). A connection the server has closed (restart, idle timeout,
    `pg_terminate_backend`) has something to read on its socket (the FIN or the server's
    error), which a zero-timeout `select` sees without asking the server. Only such a
    connection, or one idle for longer than IDLE_PING_SECONDS, is pinged; a failed ping makes
    the pool replace it (InvalidatePoolError), so the request never runs on a dead connection.
    """
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["mc_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.get("mc_idle_since")
        idle_long = idle_since is not None and time.monotonic() - idle_since > IDLE_PING_SECONDS
        if not (idle_long or _has_input(dbapi_connection)):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure means the connection cannot be used
            # The server closed one: after a restart every connection pooled before it is dead
            # too, so all of them are replaced (as pool_pre_ping does), not one per request.
            raise InvalidatePoolError("a pooled connection was closed by the server") from exc


def _has_input(dbapi_connection) -> bool:
    """True when the server sent something unasked on an idle connection (it closed it)."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


SQLITE_BUSY_SECONDS = 30


def _sqlite_connect_args(database_url: str) -> dict:
    """pysqlite's arguments: the busy timeout, and where the database is a file, writers that take
    turns and a WAL checkpointed beside them."""
    arguments: dict = {"timeout": SQLITE_BUSY_SECONDS}
    path = make_url(database_url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        path = os.path.abspath(path)
        turn = WriterTurn(path, timeout=SQLITE_BUSY_SECONDS)
        arguments["factory"] = connection_class(turn, WalCheckpointer(path))
    return arguments


def _begin_immediate(dbapi_connection) -> None:
    """BEGIN IMMEDIATE, in the writers' turn where the connection takes turns."""
    begin = getattr(dbapi_connection, "begin_immediate", None)
    if begin is None:
        dbapi_connection.execute("BEGIN IMMEDIATE")
    else:
        begin()


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT (used by batch Bundles); the
    # SQLAlchemy-documented recipe takes transaction control over.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.info.pop(_SNAPSHOT, None)  # left by a transaction that wrote nothing
        if write_intent.get() and not snapshot_reads.get():
            _begin_immediate(connection.connection.dbapi_connection)
            return
        connection.exec_driver_sql("BEGIN")
        if write_intent.get():
            connection.info[_SNAPSHOT] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _first_write(connection, _cursor, statement, _parameters, _context, _executemany):
        if connection.info.get(_SNAPSHOT) and not statement.lstrip()[:7].upper().startswith(_READING):
            # The snapshot's read transaction ends and a writing one begins: a read transaction
            # that writes fails at once when another writer committed since it began.
            del connection.info[_SNAPSHOT]
            dbapi_connection = connection.connection.dbapi_connection
            dbapi_connection.execute("COMMIT")
            _begin_immediate(dbapi_connection)

    # Not on "commit": the deferred inserts are flushed in that event, after which the flag is
    # gone anyway (their first statement begins the write).
    event.listen(engine, "rollback", lambda connection: connection.info.pop(_SNAPSHOT, None))
    event.listen(engine.pool, "checkin", lambda _dbapi, record: record.info.pop(_SNAPSHOT, None) if record else None)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never autoflush surprises into reads and keep objects after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
