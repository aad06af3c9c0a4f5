"""Fixtures for the integration tests that work on the sandbox directory."""

import pytest

from adapter.db import make_engine, write_intent
from tests.integration.messaging_helpers import Sandbox


@pytest.fixture
def sqlite_engine(database_url, clean_database, is_postgresql):
    """An engine of the SQLite test database, for tests of SQLite's write lock; a writing unit of work."""
    if is_postgresql:
        pytest.skip("SQLite's write lock (PostgreSQL runs READ COMMITTED and locks rows)")
    engine = make_engine(database_url)
    intent = write_intent.set(True)  # a request of an earlier test may have left it False
    yield engine
    write_intent.reset(intent)
    engine.dispose()


@pytest.fixture
def inbox(client, sandbox):
    """The sandbox's inboxes, found by HSA-id."""
    return Sandbox(client)


@pytest.fixture
def fixed_clock(app, clock):
    """The app's clock, moved by hand (no sleeping)."""
    app.extensions["mc"].clock = clock
    return clock
