"""A unit of work that reads from a snapshot takes SQLite's write lock at its first write (adapter/db.py, #17)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from adapter.bench.baseline import BaselineRow
from adapter.db import snapshot_reads, write_intent
from adapter.writes import insert_later
from tests.integration.messaging_helpers import ALFA, KOMMUN_A, MARIA, message, send

BASELINE = BaselineRow.__table__


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


def _count(connection) -> int:
    return connection.execute(select(func.count()).select_from(BASELINE)).scalar()


def test_a_snapshot_reader_lets_another_writer_commit_and_still_writes_after_it(engine):
    snapshot = snapshot_reads.set(True)
    try:
        with engine.connect() as reader:
            reader.begin()
            assert _count(reader) == 0  # the snapshot: no write lock taken
            with engine.begin() as other:  # would wait the busy timeout if the reader held the lock
                other.execute(BASELINE.insert().values(content="other"))
            insert_later(reader, BASELINE, [{"content": "mine"}])
            reader.commit()  # a read transaction that wrote here would fail: another writer committed
    finally:
        snapshot_reads.reset(snapshot)
    with engine.connect() as connection:
        assert sorted(connection.execute(select(BASELINE.c.content)).scalars()) == ["mine", "other"]


def test_a_snapshot_reader_sees_the_committed_rows_once_it_writes(engine):
    snapshot = snapshot_reads.set(True)
    try:
        with engine.connect() as reader:
            reader.begin()
            assert _count(reader) == 0
            with engine.begin() as other:
                other.execute(BASELINE.insert().values(content="other"))
            reader.execute(BASELINE.insert().values(content="mine"))  # the write begins: a fresh view
            assert _count(reader) == 2
            reader.commit()
    finally:
        snapshot_reads.reset(snapshot)


def test_a_writer_without_a_snapshot_holds_the_lock_from_its_first_read(engine):
    assert write_intent.get() and not snapshot_reads.get()
    with engine.connect() as writer:
        writer.begin()
        _count(writer)
        assert writer.connection.dbapi_connection.in_transaction
        # BEGIN IMMEDIATE: the write lock is this connection's, so a second writer could not take it
        other = engine.raw_connection()
        try:
            other.driver_connection.execute("PRAGMA busy_timeout=0")
            with pytest.raises(Exception, match="locked"):
                other.driver_connection.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        writer.rollback()


def test_a_message_is_sent_from_a_snapshot_and_the_next_request_is_not(client, inbox):
    sender, recipient, maria = inbox.shared(KOMMUN_A), inbox.shared(ALFA), inbox.personal(MARIA)
    assert send(client, message(sender, [recipient], sent_by=maria)).status_code == 201
    assert snapshot_reads.get() is False  # reset when the create ends (the test client runs in this thread)
