"""Deferred inserts: the rows a transaction appends go to the database together, in one statement.

A message writes to eight tables (its resource, three search indexes, the message key, the inbox
Tasks, their feed rows, the outbox, the audit). Sent one by one, every insert is a round trip
and a statement for SQLAlchemy, psycopg and PostgreSQL to prepare; together they were most of
an ingest request's cost (issue #17). `insert_later` queues rows on the connection instead, and
they are sent

- before any other statement runs on that connection (so every read, update and delete sees
  them exactly as if they had been inserted at once: the order of effects is kept),
- before the transaction commits, and before a savepoint starts;
- and dropped when the transaction, or the savepoint they were queued under, rolls back.

On PostgreSQL the queued rows of every table are one statement: each table's rows travel as one
JSON parameter, read with `json_populate_recordset`, and each insert is a data-modifying CTE.
The statement's text depends only on which tables and columns are queued, so psycopg prepares
it once. On SQLite (in-process, no round trips) each table's rows are one `executemany` of an
INSERT built once per shape.

A constraint violation (a concurrent writer's duplicate key) surfaces at the flush instead of
at the insert; it is still inside the request's transaction, and mapped as before (409).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import lru_cache
from typing import Callable

from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import RollbackToSavepointClause

_PENDING = "mc_pending_inserts"
_FLUSHING = "mc_flushing_inserts"
_FAILED = "mc_flush_failed"


def insert_later(connection: Connection, table: Table, rows: list[dict], *, computed: dict[str, str] | None = None,
                 complete: Callable[[Connection, list[dict]], None] | None = None) -> None:
    """Queue `rows` for `table` on this connection; they are sent before anything else runs.

    `computed` names columns whose value PostgreSQL computes as the rows are inserted (an SQL
    expression, e.g. the feed's `nextval`); it is for PostgreSQL only. `complete(connection,
    rows)` fills in columns as the rows are sent (SQLite's feed positions: taken then, the
    write lock held), for the other backends.
    """
    if not rows:
        return
    if computed and connection.dialect.name != "postgresql":
        raise ValueError("computed columns are for PostgreSQL")
    connection.info.setdefault(_PENDING, []).append((table, rows, tuple(sorted((computed or {}).items())), complete))


def flush(connection: Connection) -> None:
    """Send the queued rows now (one statement on PostgreSQL)."""
    pending = connection.info.pop(_PENDING, None)
    if not pending:
        return
    connection.info[_FLUSHING] = True
    try:
        if connection.dialect.name == "postgresql":
            _flush_postgresql(connection, _grouped(pending))
        else:
            for _table, rows, _computed, complete in pending:
                if complete is not None:
                    complete(connection, rows)
            _flush_executemany(connection, _grouped(pending))
    except Exception:
        # A flush that fails inside `commit` (e.g. a concurrent writer took the same unique key)
        # leaves the database transaction aborted while SQLAlchemy counts it as ended, and the
        # pool would skip its reset: the connection is rolled back when it is checked in.
        connection.info[_FAILED] = True
        raise
    finally:
        connection.info.pop(_FLUSHING, None)


def discard(connection: Connection) -> None:
    """Forget the queued rows (their transaction or savepoint rolled back)."""
    connection.info.pop(_PENDING, None)


def install(engine: Engine) -> None:
    """Flush before every other statement and before commit; discard on rollback."""
    event.listen(engine, "before_execute", _before_execute)
    event.listen(engine, "commit", flush)
    event.listen(engine, "savepoint", lambda connection, _name: flush(connection))
    event.listen(engine, "rollback", discard)
    event.listen(engine, "rollback_savepoint", lambda connection, _name, _context: discard(connection))
    event.listen(engine.pool, "checkin", _forget_on_checkin)


def _forget_on_checkin(dbapi_connection, connection_record) -> None:
    # A connection back in the pool carries nothing into the next checkout: no queued rows, and
    # no transaction a failed flush left aborted.
    if connection_record is not None:
        connection_record.info.pop(_PENDING, None)
        if connection_record.info.pop(_FAILED, False) and dbapi_connection is not None:
            dbapi_connection.rollback()


def _before_execute(connection, clauseelement, multiparams, params, execution_options):
    if connection.info.get(_FLUSHING) or _PENDING not in connection.info:
        return
    if isinstance(clauseelement, RollbackToSavepointClause):
        discard(connection)
        return
    flush(connection)


def _grouped(pending: list) -> list[tuple[Table, tuple[str, ...], tuple, list[dict]]]:
    """Rows by (table, column set, computed columns), in first-queued order: one insert per group."""
    groups: dict[tuple, tuple[Table, tuple[str, ...], tuple, list[dict]]] = {}
    for table, rows, computed, _complete in pending:
        for row in rows:
            columns = tuple(row)
            groups.setdefault((table.name, columns, computed), (table, columns, computed, []))[3].append(row)
    return list(groups.values())


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot queue a {type(value).__name__}")


class JSONText(str):
    """A column value that is JSON text already (a resource's content): on PostgreSQL it travels inside
    the rows' JSON as the JSON it is, not encoded a second time as a string (issue #17), and
    `json_populate_recordset` stores its text exactly as it came."""

    __slots__ = ()


def _dumps(value) -> str:
    return json.dumps(value, default=_json_value, ensure_ascii=False, separators=(",", ":"))


def _rows_json(rows: list[dict]) -> str:
    """The rows as one JSON array, JSONText values in place as they are."""
    if not any(type(value) is JSONText for row in rows for value in row.values()):
        return _dumps(rows)
    encoded = []
    for row in rows:
        parts = [f"{_dumps(name)}:{value if type(value) is JSONText else _dumps(value)}" for name, value in row.items()]
        encoded.append("{" + ",".join(parts) + "}")
    return "[" + ",".join(encoded) + "]"


def _flush_executemany(connection: Connection, groups) -> None:
    """One executemany per group, of an INSERT built once per shape (SQLite: no round trips to save,
    but SQLAlchemy's statement set-up per insert was a tenth of a message's CPU, issue #17)."""
    for table, columns, _computed, rows in groups:
        prepared = _prepared_insert(table, columns, connection.dialect)
        if prepared is None:
            connection.execute(table.insert(), rows)
            continue
        sql, processors, constants = prepared
        connection.exec_driver_sql(sql, [
            tuple(process(row[name]) if process else row[name] for name, process in zip(columns, processors)) + constants
            for row in rows
        ])


@lru_cache(maxsize=1024)
def _prepared_insert(table: Table, columns: tuple[str, ...], dialect):
    """(SQL, each column's bind processor, the values of omitted columns' scalar defaults) for one
    shape, exactly what `table.insert()` would send; None where an omitted column's default is
    computed in Python (then the insert goes through SQLAlchemy)."""
    omitted = [c for c in table.c if c.name not in columns and c.default is not None]
    if dialect.paramstyle != "qmark" or any(not c.default.is_scalar for c in omitted):
        return None
    names = list(columns) + [c.name for c in omitted]
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
           f"VALUES ({', '.join('?' for _ in names)})")
    processors = tuple(_bind_processor(table.c[name], dialect) for name in columns)
    constants = tuple(
        (processor(c.default.arg) if (processor := _bind_processor(c, dialect)) else c.default.arg) for c in omitted)
    return sql, processors, constants


def _bind_processor(column, dialect):
    """How SQLAlchemy turns a value of `column` into the driver's (e.g. a datetime into SQLite's text)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _flush_postgresql(connection: Connection, groups) -> None:
    shape = tuple((table.name, columns, computed) for table, columns, computed, _rows in groups)
    params = {f"p{position}": _rows_json(rows) for position, (_table, _columns, _computed, rows) in enumerate(groups)}
    # The driver's SQL as is: a cached text() still costs SQLAlchemy a compiled-statement context per
    # execution (issue #17: a tenth of a worker's time went to statement set-up).
    connection.exec_driver_sql(_shaped_sql(shape, connection.dialect.identifier_preparer.quote), params)


@lru_cache(maxsize=1024)
def _shaped_sql(shape: tuple, quote) -> str:
    """The statement (psycopg's parameter style) for one shape (which tables and columns are queued
    together), built once: few occur."""
    inserts = []
    for position, (table, columns, computed) in enumerate(shape):
        targets = ", ".join([quote(c) for c in columns] + [quote(c) for c, _ in computed])
        values = ", ".join([quote(c) for c in columns] + [expression for _, expression in computed])
        inserts.append(f"INSERT INTO {quote(table)} ({targets}) SELECT {values} "
                       f"FROM json_populate_recordset(NULL::{quote(table)}, CAST(%(p{position})s AS json))")
    if len(inserts) == 1:
        return inserts[0]
    # each insert a data-modifying CTE: all run, exactly once, in one statement
    return "WITH " + ", ".join(f"w{i} AS ({insert})" for i, insert in enumerate(inserts)) + " SELECT 1"
