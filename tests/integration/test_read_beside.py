"""`db.read_beside`: a long independent read on a second connection (PostgreSQL), inline on SQLite."""

import pytest
from sqlalchemy import text

from adapter.db import make_engine, make_session_factory, read_beside


@pytest.fixture
def session(database_url):
    engine = make_engine(database_url)
    with make_session_factory(engine)() as opened:
        yield opened
    engine.dispose()


def _backend(session) -> int:
    return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_on_postgresql_the_read_beside_runs_on_another_connection_while_the_caller_goes_on(session, postgresql_only):
    beside = read_beside(session, lambda other: (_backend(other), other.execute(text("SELECT pg_sleep(0.3), 1")).one()[1]))
    ours = _backend(session)  # the caller goes on meanwhile
    theirs, answer = beside.result()
    assert theirs != ours and answer == 1


def test_on_postgresql_the_read_beside_sees_committed_data_only(session, database_url, postgresql_only):
    session.execute(text("CREATE TEMP TABLE mine (n int)"))  # the caller's own, uncommitted
    with pytest.raises(Exception, match="mine"):
        read_beside(session, lambda other: other.execute(text("SELECT n FROM mine")).all()).result()


def test_an_error_of_the_read_beside_reaches_the_caller(session):
    with pytest.raises(ZeroDivisionError):
        read_beside(session, lambda other: 1 / 0).result()


def test_on_sqlite_the_read_beside_is_the_callers_own_session(session, is_postgresql):
    if is_postgresql:
        pytest.skip("SQLite only")
    assert read_beside(session, lambda other: other is session).result() is True
