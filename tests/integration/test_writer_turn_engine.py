"""The engine's SQLite connections take the writers' turn for BEGIN IMMEDIATE and give it back as the
transaction ends (adapter/writer_turn.py, #17)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, select

from adapter.bench.baseline import BaselineRow
from adapter.db import _sqlite_connect_args, make_engine, snapshot_reads
from adapter.writer_turn import WriterTurn
from adapter.writes import insert_later

BASELINE = BaselineRow.__table__


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


@pytest.fixture
def other_process(engine):
    """The turn as another process sees it: the same lock file, opened again."""
    return WriterTurn(engine.url.database, timeout=0.5)


def _free(turn: WriterTurn) -> bool:
    try:
        turn.take()
    except sqlite3.OperationalError:
        return False
    turn.give()
    return True


def test_a_writing_transaction_holds_the_turn_until_it_commits(engine, other_process):
    with engine.begin() as connection:
        connection.execute(BASELINE.insert().values(content="mine"))
        assert not _free(other_process)
    assert _free(other_process)


def test_a_rolled_back_transaction_gives_the_turn_back(engine, other_process):
    connection = engine.connect()
    connection.begin()
    connection.execute(BASELINE.insert().values(content="dropped"))
    connection.rollback()
    assert _free(other_process)
    connection.close()


def test_a_snapshot_reader_takes_the_turn_only_at_its_first_write(engine, other_process):
    snapshot = snapshot_reads.set(True)
    try:
        with engine.connect() as reader:
            reader.begin()
            reader.execute(select(func.count()).select_from(BASELINE))
            assert _free(other_process)  # reading: no turn
            insert_later(reader, BASELINE, [{"content": "mine"}])
            reader.execute(select(func.count()).select_from(BASELINE))  # the queued rows go: a write
            assert not _free(other_process)
            reader.commit()
    finally:
        snapshot_reads.reset(snapshot)
    assert _free(other_process)


def test_a_begin_immediate_that_fails_gives_the_turn_back(engine, database_url, other_process):
    # Another program writes without taking turns: SQLite's own lock keeps us out, and the turn
    # we took for the attempt is given back.
    outsider = sqlite3.connect(engine.url.database, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    try:
        raw = engine.raw_connection()
        raw.driver_connection.execute("PRAGMA busy_timeout=100")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            raw.driver_connection.begin_immediate()
        assert _free(other_process)
        raw.close()
    finally:
        outsider.rollback()
        outsider.close()


def test_concurrent_writers_of_two_engines_all_commit(engine, database_url):
    second = make_engine(database_url)  # another process's engine: its own lock file descriptor
    errors: list = []

    def write(target, label):
        try:
            for number in range(25):
                with target.begin() as connection:
                    connection.execute(BASELINE.insert().values(content=f"{label}-{number}"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(target, f"{index}"))
               for index, target in enumerate([engine, engine, second, second])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    second.dispose()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(BASELINE)).scalar() == 100


def test_an_in_memory_database_takes_no_turn():
    assert "factory" not in _sqlite_connect_args("sqlite://")
    assert "factory" not in _sqlite_connect_args("sqlite:///:memory:")
    assert "factory" in _sqlite_connect_args("sqlite:////tmp/mc-adapter.sqlite3")
