"""SQLite's WAL is copied into the database by a thread beside the writers, never inside a
writer's commit (adapter/wal_checkpoints.py, #17)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from adapter.bench.baseline import BaselineRow
from adapter.wal_checkpoints import BACKSTOP_FRAMES, WalCheckpointer
from adapter.writer_turn import WriterTurn, connection_class

BASELINE = BaselineRow.__table__


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "adapter.sqlite3")


def _connect(path: str, checkpoints: WalCheckpointer) -> sqlite3.Connection:
    factory = connection_class(WriterTurn(path, timeout=5), checkpoints)
    connection = sqlite3.connect(path, factory=factory, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def _write(connection: sqlite3.Connection, value: str) -> None:
    connection.begin_immediate()
    connection.execute("INSERT INTO note (value) VALUES (?)", (value,))
    connection.commit()


def _in_database_file(path: str, tmp_path, table: str = "note") -> int:
    """Rows of `table` in the database file alone, without its WAL: what checkpoints copied."""
    copy = str(tmp_path / f"copy-{time.monotonic_ns()}.sqlite3")
    shutil.copyfile(path, copy)
    reader = sqlite3.connect(copy)
    try:
        return reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the table itself is not copied yet
        return 0
    finally:
        reader.close()


def _eventually(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def writer(path):
    checkpoints = WalCheckpointer(path, delay=0.2, idle=0.5)
    connection = _connect(path, checkpoints)
    connection.execute("CREATE TABLE note (value TEXT)")
    yield connection, checkpoints
    connection.close()


def test_a_commit_is_copied_into_the_database_file_shortly_after_by_another_thread(writer, path, tmp_path):
    connection, _ = writer
    _write(connection, "one")
    assert _in_database_file(path, tmp_path) == 0  # the commit itself wrote the WAL only
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 1)


def test_the_writers_own_checkpoint_waits_for_the_backstop(writer):
    connection, _ = writer
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_FRAMES


def test_many_commits_are_copied_by_one_checkpoint_a_delay(path, tmp_path, monkeypatch):
    from adapter import wal_checkpoints

    runs: list = []
    real = wal_checkpoints.checkpoint
    monkeypatch.setattr(wal_checkpoints, "checkpoint", lambda c: runs.append(1) or real(c))
    checkpoints = WalCheckpointer(path, delay=0.2, idle=1.0)
    connection = _connect(path, checkpoints)
    connection.execute("CREATE TABLE note (value TEXT)")
    started = time.monotonic()
    for number in range(200):
        _write(connection, f"note {number}")
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 200)
    elapsed = time.monotonic() - started
    assert 1 <= len(runs) <= elapsed / 0.2 + 2  # one a delay, however many commits it covers
    connection.close()


def test_the_thread_ends_when_idle_and_the_next_commit_starts_it_again(writer, path, tmp_path):
    connection, checkpoints = writer
    _write(connection, "one")
    assert checkpoints.running()
    assert _eventually(lambda: not checkpoints.running())  # idle 0.5 s
    _write(connection, "two")
    assert checkpoints.running()
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 2)


def test_a_reader_on_an_old_snapshot_holds_back_the_copy_until_it_ends(writer, path, tmp_path):
    connection, _ = writer
    _write(connection, "before")
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 1)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM note").fetchone()[0] == 1  # its snapshot starts here
    _write(connection, "during")
    time.sleep(0.5)  # the checkpoint ran, and could not copy what the reader's snapshot predates
    assert reader.execute("SELECT count(*) FROM note").fetchone()[0] == 1
    assert _in_database_file(path, tmp_path) == 1
    reader.execute("COMMIT")
    reader.close()
    _write(connection, "after")
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 3)


def test_a_database_the_thread_cannot_open_leaves_the_writers_working(path, tmp_path, caplog):
    checkpoints = WalCheckpointer(str(tmp_path / "missing" / "adapter.sqlite3"), delay=0.01, idle=0.2)
    connection = _connect(path, checkpoints)  # writes one file, checkpoints another that cannot exist
    connection.execute("CREATE TABLE note (value TEXT)")
    _write(connection, "one")
    assert _eventually(lambda: "cannot open the database" in caplog.text)
    _write(connection, "two")
    assert connection.execute("SELECT count(*) FROM note").fetchone()[0] == 2
    connection.close()


def test_a_thread_that_ends_as_a_commit_comes_leaves_one_thread_running(tmp_path):
    path = str(tmp_path / "restarts.sqlite3")
    checkpoints = WalCheckpointer(path, delay=0.001, idle=0.01)
    connection = _connect(path, checkpoints)
    connection.execute("CREATE TABLE note (value TEXT)")
    alive = []
    for number in range(100):
        _write(connection, f"note {number}")
        time.sleep(0.005 * (number % 4))  # now before, now at, now after the thread's idle end
        alive.append(sum(t.name == "mc-sqlite-checkpoint restarts.sqlite3" for t in threading.enumerate()))
    assert max(alive) == 1
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 100)
    connection.close()


def test_a_database_that_stays_unopenable_is_reported_once(tmp_path, caplog):
    checkpoints = WalCheckpointer(str(tmp_path / "missing" / "adapter.sqlite3"), delay=0.01, idle=1.0)
    for _ in range(5):
        checkpoints.committed()
        time.sleep(0.05)
    assert caplog.text.count("cannot open the database") == 1


def test_a_removed_database_file_is_not_created_again_by_the_thread(tmp_path, caplog):
    gone = tmp_path / "removed.sqlite3"
    WalCheckpointer(str(gone), delay=0.01, idle=0.2).committed()
    assert _eventually(lambda: "cannot open the database" in caplog.text)
    assert not gone.exists()


def test_concurrent_writers_commit_while_the_thread_checkpoints(path, tmp_path):
    checkpoints = WalCheckpointer(path, delay=0.01, idle=0.5)
    setup = _connect(path, checkpoints)
    setup.execute("CREATE TABLE note (value TEXT)")
    errors: list = []

    def write(label):
        connection = _connect(path, checkpoints)
        try:
            for number in range(100):
                _write(connection, f"{label}-{number}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(label,)) for label in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _eventually(lambda: _in_database_file(path, tmp_path) == 400)
    setup.close()


def test_the_engine_checkpoints_its_commits_beside_its_writers(sqlite_engine, tmp_path):
    with sqlite_engine.begin() as connection:
        connection.execute(BASELINE.insert().values(content="checkpointed"))
    raw = sqlite_engine.raw_connection()
    try:
        assert raw.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_FRAMES
        assert raw.driver_connection.wal_checkpoints is not None
    finally:
        raw.close()
    path = sqlite_engine.url.database
    assert _eventually(lambda: _in_database_file(path, tmp_path, BASELINE.name) >= 1)
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
