"""SQLite's writers take turns: threads and processes queue and are woken, and every wait is bounded (#17).

Two WriterTurn objects on one path open the lock file twice, so their `flock`s exclude each other
exactly as two processes' do.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from adapter import writer_turn
from adapter.writer_turn import WriterTurn


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "adapter.sqlite3")


def _take_in_thread(turn: WriterTurn, events: list, name: str) -> threading.Thread:
    def run():
        try:
            turn.take()
        except sqlite3.OperationalError as exc:
            events.append((name, "gave up", str(exc)))
            return
        events.append((name, "took"))
        turn.give()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_writer_of_another_process_waits_until_the_turn_is_given_and_then_takes_it(path):
    first, second = WriterTurn(path, timeout=10), WriterTurn(path, timeout=10)
    events: list = []
    first.take()
    waiter = _take_in_thread(second, events, "second")
    time.sleep(0.2)
    assert events == []  # still waiting: the file lock is held
    events.append(("first", "gave"))
    first.give()
    waiter.join(5)
    assert events == [("first", "gave"), ("second", "took")]


def test_threads_of_one_process_take_turns(path):
    turn = WriterTurn(path, timeout=10)
    events: list = []
    turn.take()
    waiter = _take_in_thread(turn, events, "other thread")
    time.sleep(0.2)
    assert events == []
    events.append(("holder", "gave"))
    turn.give()
    waiter.join(5)
    assert events == [("holder", "gave"), ("other thread", "took")]


def _held_while_another_gives_up(path) -> tuple[WriterTurn, WriterTurn]:
    """A process holding the turn, and another that gave up waiting for it (after 0.2 s)."""
    holder, impatient = WriterTurn(path, timeout=10), WriterTurn(path, timeout=0.2)
    holder.take()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        impatient.take()
    return holder, impatient


def test_a_writer_gives_up_after_the_busy_timeout_as_database_is_locked(path):
    started = time.monotonic()
    holder, _impatient = _held_while_another_gives_up(path)
    assert time.monotonic() - started >= 0.2
    holder.give()


def test_a_turn_given_up_is_not_kept_when_its_lock_arrives_later(path):
    holder, impatient = _held_while_another_gives_up(path)
    holder.give()  # the given-up ticket's flock now arrives, and is let go at once
    third = WriterTurn(path, timeout=2)
    third.take()  # would time out if the impatient process still held the file lock
    third.give()
    impatient.take()  # and the impatient one can take a turn of its own afterwards
    impatient.give()


def test_a_writer_after_a_given_up_turn_still_waits_for_the_holder(path):
    holder, impatient = _held_while_another_gives_up(path)
    impatient.timeout = 10
    events: list = []
    waiter = _take_in_thread(impatient, events, "impatient")
    time.sleep(0.2)
    assert events == []  # its earlier ticket did not let it in
    holder.give()
    waiter.join(5)
    assert events == [("impatient", "took")]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_process_takes_turns_with_its_parent_not_through_its_descriptor(path):
    turn = WriterTurn(path, timeout=5)
    turn.take()
    turn.give()  # the lock file is open in the parent as it forks, as in gunicorn's arbiter
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        try:
            turn.take()
            os.write(ready_write, b"x")
            time.sleep(0.5)
            turn.give()
        finally:
            os._exit(0)
    os.read(ready_read, 1)  # the child holds its turn now
    started = time.monotonic()
    turn.take()  # through a descriptor shared with the child, this `flock` would not wait
    waited = time.monotonic() - started
    turn.give()
    os.waitpid(child, 0)
    assert waited >= 0.3


def test_a_lock_file_that_cannot_be_opened_leaves_the_writers_to_sqlites_busy_handler(path):
    os.mkdir(f"{path}-writers")  # not a file: it cannot be opened
    turn = WriterTurn(path, timeout=1)
    assert turn.take() is False
    assert turn.take() is False  # no turn was held, so nothing waits for it


def test_the_lock_file_can_be_shared_by_users_who_may_only_read_it(path):
    turn = WriterTurn(path, timeout=1)
    assert turn.take() is True
    turn.give()
    assert os.stat(turn.lock_path).st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_threads_that_take_their_first_turn_at_once_still_take_it_one_at_a_time(path):
    # The first turn of a process sets up its lock and descriptor; threads racing to do that
    # must end up sharing one of each (each with its own, two writers held the turn at once).
    for _ in range(20):
        turn = WriterTurn(path, timeout=10)
        start = threading.Barrier(6)
        holding, most = [0], [0]
        count = threading.Lock()

        def writer():
            start.wait()
            turn.take()
            with count:
                holding[0] += 1
                most[0] = max(most[0], holding[0])
            time.sleep(0.002)
            with count:
                holding[0] -= 1
            turn.give()

        threads = [threading.Thread(target=writer) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert most[0] == 1


def test_the_waiting_thread_ends_when_idle_and_starts_again_when_a_turn_is_contended(path, monkeypatch):
    monkeypatch.setattr(writer_turn, "_IDLE_SECONDS", 0.1)
    holder, waiting = WriterTurn(path, timeout=10), WriterTurn(path, timeout=10)

    def contended_turn():
        holder.take()
        events: list = []
        thread = _take_in_thread(waiting, events, "waiting")
        time.sleep(0.1)
        holder.give()
        thread.join(5)
        assert events == [("waiting", "took")]

    contended_turn()
    time.sleep(0.5)
    assert waiting._here().waiter._running is False  # its thread has ended
    contended_turn()


def test_a_file_system_that_refuses_flock_leaves_the_writers_to_sqlites_busy_handler(path, monkeypatch):
    def no_locks(_descriptor, _operation):
        raise OSError(37, "No locks available")  # ENOLCK, as some network file systems answer

    turn = WriterTurn(path, timeout=1)
    monkeypatch.setattr(writer_turn.fcntl, "flock", no_locks)
    assert turn.take() is False
    assert turn.take() is False  # and its threads' lock was not kept


def test_a_refused_flock_in_the_waiting_thread_reaches_its_caller_at_once(path):
    holder, waiting = WriterTurn(path, timeout=10), WriterTurn(path, timeout=10)
    holder.take()
    here = waiting._here()
    here.waiter = writer_turn._FileLockWaiter(10**6)  # a descriptor the kernel refuses: EBADF
    started = time.monotonic()
    assert waiting.take() is False
    assert time.monotonic() - started < 5  # not the busy timeout
    holder.give()
