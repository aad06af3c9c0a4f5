"""Recording watches: someone who answers for an inbox opened its list or polled it.

One row per inbox and watch window (WINDOW, 15 minutes), written at most once per window by each
process (a memo), in a short transaction of its own beside the poll's read, and never failing
the poll. Rows name the inbox and the window only: no patient data, no user.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from adapter.auth import visibility
from adapter.db import write_intent
from adapter.directory.inboxes import load_inboxes
from adapter.followup.models import InboxWatch

log = logging.getLogger("adapter.followup")
WINDOW = timedelta(minutes=15)
WATCH = InboxWatch.__table__
# Who answers for an inbox (mappings/access_rules.csv relations): a shared inbox's members and its
# organisation's system; a personal inbox's owner and their active proxy (MC-R24, MC-R27).
WATCHERS = {"member": "member", "own-organisation": "system", "own": "owner", "active-proxy": "proxy"}
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def window_of(instant: datetime) -> datetime:
    """The start of the watch window holding `instant`."""
    return _EPOCH + WINDOW * ((instant - _EPOCH) // WINDOW)


class Memo:
    """The windows this process already recorded, per inbox (so a poller polling every second writes once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, datetime] = {}

    def first_in(self, inbox: str, window: datetime) -> bool:
        """True once per inbox and window."""
        with self._lock:
            if self._last.get(inbox) == window:
                return False
            self._last[inbox] = window
            return True

    def forget(self, inbox: str) -> None:
        with self._lock:
            self._last.pop(inbox, None)


def on_inbox_watched(ctx, *, inbox: str, memo: Memo) -> None:
    """A listener of "inbox-watched": record the watch when the caller answers for the inbox."""
    found = load_inboxes(ctx, [inbox]).get(inbox)
    watcher = WATCHERS.get(visibility.relation(ctx, found)) if found is not None else None
    if watcher is None:
        return
    window = window_of(ctx.clock())
    if memo.first_in(inbox, window):
        try:
            if write_intent.get():  # the request writes anyway (and on SQLite holds the lock): with its work
                ctx.session.connection().execute(_insert(ctx.session.get_bind(), inbox=inbox, window=window, watcher=watcher))
            else:
                record(ctx.session.get_bind(), inbox=inbox, window=window, watcher=watcher)
        except SQLAlchemyError as exc:  # a watch not recorded never fails the poll; the next poll tries again
            memo.forget(inbox)
            log.warning("follow-up: a watch could not be recorded (%s)", type(exc).__name__)


def _insert(engine, *, inbox: str, window: datetime, watcher: str):
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    return insert(WATCH).values(inbox=inbox, window_start=window, watcher=watcher).on_conflict_do_nothing()


def record(engine, *, inbox: str, window: datetime, watcher: str) -> None:
    """Insert the window's row unless another process did (its own short writing transaction)."""
    intent = write_intent.set(True)
    try:
        with engine.begin() as connection:
            connection.execute(_insert(engine, inbox=inbox, window=window, watcher=watcher))
    finally:
        write_intent.reset(intent)
