"""Deferred inserts (adapter/writes.py): queued rows behave exactly as rows inserted at once."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from adapter.bench.baseline import BaselineRow
from adapter.db import make_engine, utcnow
from adapter.fhir.models import ResourceRow, TokenIndex
from adapter.writes import JSONText, insert_later

BASELINE = BaselineRow.__table__
TOKENS = TokenIndex.__table__


@pytest.fixture
def engine(database_url, clean_database):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _count(connection, table) -> int:
    return connection.execute(select(func.count()).select_from(table)).scalar()


def _token(value: str) -> dict:
    return {"resource_type": "Test", "resource_id": value, "param": "code", "system": "", "value": value}


def test_a_read_after_queued_inserts_sees_them(engine):
    with engine.begin() as connection:
        insert_later(connection, BASELINE, [{"content": "a"}, {"content": "b"}])
        assert _count(connection, BASELINE) == 2


def test_queued_inserts_of_several_tables_are_committed(engine):
    with engine.begin() as connection:
        insert_later(connection, BASELINE, [{"content": "a"}])
        insert_later(connection, TOKENS, [_token("x"), _token("y")])
    with engine.connect() as connection:
        assert (_count(connection, BASELINE), _count(connection, TOKENS)) == (1, 2)


def test_on_postgresql_the_queued_rows_of_every_table_are_one_statement(engine, postgresql_only):
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with engine.begin() as connection:
        insert_later(connection, BASELINE, [{"content": "a"}, {"content": "b"}])
        insert_later(connection, TOKENS, [_token("x")])
        insert_later(connection, BASELINE, [{"content": "c"}])
    assert len(statements) == 1 and statements[0].startswith("WITH")
    with engine.connect() as connection:
        assert sorted(connection.execute(select(BASELINE.c.content)).scalars()) == ["a", "b", "c"]


def test_json_text_is_stored_exactly_as_it_was_queued(engine):
    # On PostgreSQL it travels inside the rows' JSON as JSON, not as an escaped string (#17).
    contents = ['{"a":"quote \\" and \\\\","b":[1,2.50,{"c":"é\\u00e9 \\n"}]}', '[]', '{"x":null}']
    with engine.begin() as connection:
        insert_later(connection, BASELINE, [{"content": JSONText(c)} for c in contents] + [{"content": "plain"}])
    with engine.connect() as connection:
        assert sorted(connection.execute(select(BASELINE.c.content)).scalars()) == sorted(contents + ["plain"])


def test_a_rolled_back_transaction_leaves_no_queued_row_behind(engine):
    with engine.connect() as connection:
        transaction = connection.begin()
        insert_later(connection, BASELINE, [{"content": "lost"}])
        transaction.rollback()
        with connection.begin():
            insert_later(connection, BASELINE, [{"content": "kept"}])
    with engine.connect() as connection:
        assert list(connection.execute(select(BASELINE.c.content)).scalars()) == ["kept"]


def test_a_rolled_back_savepoint_drops_only_the_rows_queued_under_it(engine):
    with engine.begin() as connection:
        insert_later(connection, BASELINE, [{"content": "before"}])
        savepoint = connection.begin_nested()
        insert_later(connection, BASELINE, [{"content": "inside"}])
        savepoint.rollback()
        insert_later(connection, BASELINE, [{"content": "after"}])
    with engine.connect() as connection:
        assert sorted(connection.execute(select(BASELINE.c.content)).scalars()) == ["after", "before"]


def test_a_duplicate_key_surfaces_at_commit_and_nothing_is_stored(engine):
    row = {"resource_type": "Patient", "id": "p1", "version": 1, "last_updated": utcnow(), "content": "{}"}
    with engine.begin() as connection:
        insert_later(connection, ResourceRow.__table__, [row])
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            insert_later(connection, BASELINE, [{"content": "with the duplicate"}])
            insert_later(connection, ResourceRow.__table__, [dict(row)])
    with engine.connect() as connection:
        assert _count(connection, BASELINE) == 0


def test_computed_columns_are_for_postgresql_and_take_their_value_on_insert(engine, is_postgresql):
    with engine.begin() as connection:
        if not is_postgresql:
            with pytest.raises(ValueError):
                insert_later(connection, BASELINE, [{"content": "x"}], computed={"id": "1"})
            return
        insert_later(connection, BASELINE, [{"content": "x"}], computed={"id": "41 + 1"})
        assert connection.execute(text("SELECT id FROM bench_baseline")).scalar() == 42


def test_a_pooled_connection_is_not_pinged_on_every_checkout(engine, postgresql_only):
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(3):
        with engine.connect() as connection:
            connection.execute(text("SELECT 2"))
    assert statements == ["SELECT 2"] * 3


def test_a_connection_the_server_closed_is_replaced_before_any_statement_runs(engine, postgresql_only, database_url):
    import select

    import psycopg

    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        pooled_socket = connection.connection.dbapi_connection.fileno()
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # pg_terminate_backend only signals the backend: wait until its close reached the pooled
    # socket (a fixed sleep lost that race on a loaded CI machine), then check out.
    readable, _, _ = select.select([pooled_socket], [], [], 10.0)
    assert readable, "the terminated backend never closed its socket"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def test_a_flush_that_fails_at_commit_leaves_no_aborted_transaction_in_the_pool(database_url, clean_database):
    from sqlalchemy.orm import Session

    engine = make_engine(database_url, pool_size=1)
    try:
        row = {"resource_type": "Test", "id": "dup", "version": 1, "last_updated": utcnow(), "content": "{}"}
        with engine.begin() as connection:
            connection.execute(ResourceRow.__table__.insert(), [row])
        with pytest.raises(IntegrityError):
            with Session(engine) as session:
                insert_later(session.connection(), ResourceRow.__table__, [row])
                session.commit()  # the queued duplicate is sent inside commit, and refused
        with Session(engine) as session:  # the same pooled connection, next request
            assert session.execute(select(func.count()).select_from(ResourceRow.__table__)).scalar() == 1
    finally:
        engine.dispose()
