"""SQLite's WAL is copied into the database beside the writers, not inside one's turn (issue #17).

In WAL mode a commit appends the pages it changed to the `-wal` file, and a checkpoint later
copies them into the database file. By default the connection whose commit takes the WAL past
1,000 frames runs that checkpoint inside its commit call, so inside its writer's turn: every
other writer waits it out, and since a message writes about 40 frames, that was every 25th
message. And a page that many messages changed (an index's right edge, a B-tree's root) is
copied once per checkpoint, so checkpoints that come a little later copy fewer pages a message.

So each process has a thread that runs a PASSIVE checkpoint (it never blocks a reader or a
writer, and is skipped while another process's runs) `delay` seconds after its writers commit.
The connections' own checkpoint stays as a backstop at BACKSTOP_FRAMES (40 MB of WAL at 4 KB
pages), for a thread that falls behind or cannot open the file. A checkpoint can only copy
what no reader still needs, as before; the WAL starts again from its beginning once it is all
copied, so it stays about the size of `delay` seconds of writes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from urllib.parse import quote

from adapter.per_process import this_process

CHECKPOINT_DELAY = 0.25  # seconds from a commit to the checkpoint that copies it
BACKSTOP_FRAMES = 10_000  # the connections' own automatic checkpoint (SQLite's default: 1,000)
_IDLE_SECONDS = 10.0  # how long the checkpointing thread outlives its last commit

log = logging.getLogger(__name__)


class _ProcessCheckpoints:
    """One process's checkpointing thread: started by a commit, ended after `idle` seconds without one."""

    def __init__(self, database_path: str, *, delay: float, idle: float):
        self.database_path = database_path
        self.delay = delay
        self.idle = idle
        self.pending = threading.Event()  # a commit not yet copied
        self._lock = threading.Lock()
        self._running = False
        self._warned = False

    def committed(self) -> None:
        if self.pending.is_set():  # the coming checkpoint copies this commit too
            return
        with self._lock:
            self.pending.set()
            if not self._running:
                self._running = True
                name = f"mc-sqlite-checkpoint {os.path.basename(self.database_path)}"
                threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        connection = None
        try:
            while self._commits_came():
                time.sleep(self.delay)
                self.pending.clear()  # before the checkpoint: a commit from here on is copied by the next
                connection = connection or self._connect()
                if connection is not None:
                    checkpoint(connection)
        except BaseException:
            with self._lock:  # unexpected: the next commit starts a thread again
                self.pending.clear()
                self._running = False
            raise
        finally:
            if connection is not None:
                connection.close()

    def _commits_came(self) -> bool:
        """Wait for a commit; False (and the thread ends) after `idle` seconds without one."""
        if self.pending.wait(self.idle):
            return True
        with self._lock:  # a commit from now on either sees this thread still running or starts one
            if self.pending.is_set():
                return True
            self._running = False
            return False

    def _connect(self) -> sqlite3.Connection | None:
        connection = _connect(self.database_path, warn=not self._warned)
        self._warned = connection is None  # once per failing spell, not every delay
        return connection


def _connect(database_path: str, *, warn: bool) -> sqlite3.Connection | None:
    # mode=rw: a database file that was removed meanwhile is not created again, empty.
    try:
        return sqlite3.connect(f"file:{quote(database_path)}?mode=rw", uri=True, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        if warn:
            log.warning("WAL checkpoints: cannot open the database (%s); the writers' backstop checkpoints it", exc)
        return None


def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint: (busy, frames in the WAL, frames copied), or None where it failed."""
    try:
        busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:  # a disk error, say: the writers' backstop remains
        log.warning("WAL checkpoint failed: %s", exc)
        return None
    return busy, frames, copied


class WalCheckpointer:
    """Checkpoints of one SQLite file, run by a thread of each process that writes it."""

    def __init__(self, database_path: str, *, delay: float = CHECKPOINT_DELAY, idle: float = _IDLE_SECONDS):
        self.database_path = database_path
        self.delay = delay
        self.idle = idle
        self._processes: dict[int, _ProcessCheckpoints] = {}

    def _here(self) -> _ProcessCheckpoints:
        # One per process: a forked child has none of its parent's threads.
        return this_process(self._processes,
                            lambda: _ProcessCheckpoints(self.database_path, delay=self.delay, idle=self.idle))

    def configure(self, connection: sqlite3.Connection) -> None:
        """Leave a writing connection's own automatic checkpoint as the backstop only."""
        connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_FRAMES}")

    def committed(self) -> None:
        """Note a writer's commit: its pages are copied into the database within `delay` seconds."""
        self._here().committed()

    def running(self) -> bool:
        """Whether this process's checkpointing thread is alive (tests, diagnostics)."""
        here = self._processes.get(os.getpid())
        return here is not None and here._running
