"""Fixtures: a database per test session (SQLite by default, PostgreSQL with MC_TEST_DATABASE_URL),
the schema built with `alembic upgrade head`, and an app, client and sandbox directory per test.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from adapter import migrate
from adapter.app import create_app
from adapter.config import Config
from adapter.db import Base, make_engine
from adapter.directory.loader import adapter_context, load_directory

BASE_URL = "https://fhir.example.test"
FHIR = f"{BASE_URL}/fhir"


def _postgres_database(admin_url: str):
    """Create a throw-away database on the server `admin_url` names; return (url, drop)."""
    import psycopg

    name = f"mc_test_{uuid.uuid4().hex[:10]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    base, _, _ = plain.rpartition("/")
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://")

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The test database, migrated to head once for the session."""
    configured = os.environ.get("MC_TEST_DATABASE_URL", "")
    drop = None
    if configured.startswith("postgres"):
        url, drop = _postgres_database(configured)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    if drop:
        drop()


@pytest.fixture(scope="session")
def is_postgresql(database_url) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def postgresql_only(is_postgresql):
    if not is_postgresql:
        pytest.skip("concurrency is tested on PostgreSQL")


def empty_tables(database_url: str) -> None:
    """Delete every row (the schema stays)."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))
    engine.dispose()


@pytest.fixture
def clean_database(database_url):
    """Empty every table after the test."""
    yield
    empty_tables(database_url)


class FixedClock:
    """An injectable clock that tests move by hand."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def config(database_url) -> Config:
    return Config(database_url=database_url, public_base_url=BASE_URL, sandbox=True, max_body_bytes=64 * 1024)


@pytest.fixture
def app(config, clean_database):
    application = create_app(config)
    yield application
    application.extensions["mc"].engine.dispose()


@pytest.fixture
def client(app):
    """A test client that sends the sandbox operator's token unless a test sends another."""
    from tests.helpers import operator_client

    return operator_client(app)


@pytest.fixture
def anonymous_client(app):
    """A test client that sends no token."""
    return app.test_client()


@pytest.fixture
def sandbox(app):
    """The shipped sandbox directory, loaded."""
    from adapter.cli import sandbox_directory_path

    state = app.extensions["mc"]
    report = load_directory(path=sandbox_directory_path(), make_context=lambda: adapter_context(state))
    assert not report.failed, report.failed
    return report
