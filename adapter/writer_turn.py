"""SQLite's writers take turns instead of sleeping in the busy handler (issue #17).

SQLite lets one writer at a time into a database file. A writer that finds the lock taken
sleeps in SQLite's busy handler (1, 2, 5, 10 ms and longer) and then tries again; it is not
woken when the lock comes free. A message holds the lock for about a millisecond (its flush and
commit), so under load the lock stood idle between writers: in a profile of the sandbox under
the peer's load, request threads spent 15% of their wall time asleep in `BEGIN IMMEDIATE`.

A writer therefore first takes a turn, and only then runs `BEGIN IMMEDIATE`:
- a lock of its process (its threads queue on it and are woken as it is released);
- then an exclusive `flock` of a file beside the database (the processes queue on it in the
  kernel, woken the same way; the kernel releases it when a process dies).
The turn is given back as the transaction ends: commit, rollback or close.

SQLite's own lock stays the authority, so the turn only decides who goes next; it never makes a
write safe that was not. A writer that does not take turns (another program) is still kept out
by SQLite's lock, and every wait, the turn's included, ends with "database is locked" after the
busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from adapter.per_process import this_process

if TYPE_CHECKING:
    from adapter.wal_checkpoints import WalCheckpointer


_IDLE_SECONDS = 10.0  # how long the flock's waiting thread outlives its last contended turn


def _locked() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("database is locked (no writer's turn within the busy timeout)")


class _FileLockWaiter:
    """Waits for the exclusive `flock` in a thread of its own, so that its caller can give up.

    A blocking `flock` cannot time out, and only one thread of a process waits for it at a
    time (the others wait for the process's lock), so one waiting thread serves the process;
    it is started on the first contended turn and ends after _IDLE_SECONDS without one.
    Each request is a ticket; a ticket given up is released as soon as its `flock` arrives.
    """

    def __init__(self, descriptor: int):
        self._descriptor = descriptor
        self._changed = threading.Condition()
        self._requested = 0  # the last ticket asked for
        self._handled = 0  # the last ticket the thread finished with
        self._granted = 0
        self._given_up: set[int] = set()
        self._running = False  # the waiting thread ends when idle, and starts again when asked
        self._failure: OSError | None = None  # the file system refused `flock` (ENOLCK, say)

    def busy(self) -> bool:
        """Whether a ticket is still waiting for its `flock` (one that was given up, say)."""
        with self._changed:
            return self._handled < self._requested

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the `flock`; True once this caller holds it; raise the OSError
        of a file system that refuses `flock`."""
        with self._changed:
            self._requested += 1
            ticket = self._requested
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="mc-sqlite-writer-turn", daemon=True).start()
            self._changed.notify_all()
            if self._changed.wait_for(lambda: self._granted == ticket or self._failure, timeout=max(seconds, 0)):
                if self._failure is not None:
                    raise self._failure
                return True
            self._given_up.add(ticket)  # under the condition: the thread sees it before it grants
            return False

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: self._requested > self._handled, timeout=_IDLE_SECONDS):
                    self._running = False  # under the condition: a request now starts a new thread
                    return
                ticket = self._requested
            try:
                fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            except OSError as exc:
                with self._changed:
                    self._handled = ticket
                    self._given_up.discard(ticket)
                    self._failure = exc
                    self._changed.notify_all()
                continue
            with self._changed:
                self._handled = ticket
                if ticket in self._given_up:
                    self._given_up.discard(ticket)
                    fcntl.flock(self._descriptor, fcntl.LOCK_UN)
                else:
                    self._granted = ticket
                self._changed.notify_all()


def _open_lock_file(path: str) -> int | None:
    """The lock file, opened for reading (`flock` needs no more, so any user of the database can
    take turns); None where it cannot be created or opened."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return None


class _ProcessTurn:
    """What one process needs to take turns: its threads' lock and its own lock file descriptor."""

    def __init__(self, lock_path: str):
        self.threads = threading.Lock()
        self.descriptor = _open_lock_file(lock_path)
        self.waiter: _FileLockWaiter | None = None

    def discard(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)


class WriterTurn:
    """The turn of the writers of one SQLite file, across threads and processes."""

    def __init__(self, database_path: str, *, timeout: float):
        self.lock_path = f"{database_path}-writers"
        self.timeout = timeout
        self._processes: dict[int, _ProcessTurn] = {}

    def _here(self) -> _ProcessTurn:
        # One per process: after a fork the parent's thread lock may be held, its waiting thread
        # is gone and its descriptor is shared; every thread of a process queues on one lock.
        return this_process(self._processes, lambda: _ProcessTurn(self.lock_path), _ProcessTurn.discard)

    def take(self) -> bool:
        """Wait for this writer's turn; raise sqlite3.OperationalError after the busy timeout.

        False where the lock file cannot be opened or its file system refuses `flock`: the
        writer then queues on SQLite's busy handler alone, as before there were turns.
        """
        here = self._here()
        if here.descriptor is None:
            return False
        deadline = time.monotonic() + self.timeout
        if not here.threads.acquire(timeout=self.timeout):
            raise _locked()
        try:
            if not _file_lock(here, deadline - time.monotonic()):
                raise _locked()
        except OSError:
            # A file system without `flock` (some network mounts): this process's writers queue
            # on SQLite's busy handler alone from now on, as before there were turns. Set while
            # the threads' lock is held: no other writer is between take and give.
            here.descriptor = None
            here.threads.release()
            return False
        except BaseException:
            here.threads.release()
            raise
        return True

    def give(self) -> None:
        """End this writer's turn."""
        here = self._here()
        fcntl.flock(here.descriptor, fcntl.LOCK_UN)
        here.threads.release()


def _file_lock(here: _ProcessTurn, seconds: float) -> bool:
    """Take the exclusive `flock` within `seconds` (the caller holds its process's lock)."""
    if here.waiter is None:
        here.waiter = _FileLockWaiter(here.descriptor)
    elif here.waiter.busy():  # its `flock` may arrive at any moment, on this same descriptor
        return here.waiter.wait(seconds)
    try:
        fcntl.flock(here.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return here.waiter.wait(seconds)


def connection_class(turn: WriterTurn, checkpoints: WalCheckpointer | None = None) -> type[sqlite3.Connection]:
    """A sqlite3 connection whose writing transactions take `turn` (pysqlite's `factory`), and
    whose commits are checkpointed by `checkpoints` beside the writers rather than in a turn."""

    class TurnTakingConnection(sqlite3.Connection):
        _in_turn = False
        _writing = False
        wal_checkpoints = checkpoints

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if checkpoints is not None:
                checkpoints.configure(self)

        def begin_immediate(self) -> None:
            """BEGIN IMMEDIATE in this writer's turn."""
            self._writing = True
            self._in_turn = turn.take()
            try:
                self.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._end_turn()
                raise

        def _end_turn(self) -> None:
            if self._in_turn:
                self._in_turn = False
                turn.give()

        def _then_end_turn(self, end_transaction) -> None:
            try:
                end_transaction()
            finally:
                self._end_turn()

        def commit(self) -> None:
            wrote, self._writing = self._writing, False
            self._then_end_turn(super().commit)
            if wrote and checkpoints is not None:
                checkpoints.committed()

        def rollback(self) -> None:
            self._writing = False
            self._then_end_turn(super().rollback)

        def close(self) -> None:
            self._then_end_turn(super().close)

        def __del__(self) -> None:
            # A connection dropped without close (never by SQLAlchemy's pool) must not keep the turn.
            self._end_turn()

    return TurnTakingConnection
