"""The schema comes from Alembic migrations, and the models agree with them."""

from adapter import migrate
from adapter.db import make_engine


def test_models_and_migrations_do_not_drift(database_url):
    engine = make_engine(database_url)
    try:
        assert migrate.drift(engine) == []
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_stored_messages_and_threads_survive_the_move_to_one_message_row(tmp_path):
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.sqlite3'}")
    migrate.upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO message_key VALUES ('HealthcareService/a', 'urn:x', '1', 'c1', 'h1')"))
        connection.execute(text("INSERT INTO message_thread VALUES ('c1', 't1', TRUE)"))
        connection.execute(text("INSERT INTO message_key VALUES ('HealthcareService/a', 'urn:x', '2', 'c2', 'h2')"))
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT communication_id, thread_id, save_to_journal FROM message ORDER BY 1")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("c1", "t1", True), ("c2", "c2", False)]


def test_on_postgresql_indexes_carry_the_columns_their_models_include(database_url, postgresql_only):
    """Alembic's comparison ignores INCLUDE; the follow-up report's index-only scans (MC-R47) rely on it."""
    from sqlalchemy import text

    Base = migrate.Base  # with every model's tables (migrate imports them)
    wanted = {(index.table.name, index.name): list(index.dialect_options["postgresql"]["include"])
              for table in Base.metadata.tables.values() for index in table.indexes
              if index.dialect_options["postgresql"]["include"]}
    assert wanted, "no model index includes columns"
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = {(table, name): [c.strip() for c in definition.partition(" INCLUDE (")[2].partition(")")[0].split(",")]
                     for table, name, definition in connection.execute(
                         text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))}
    finally:
        engine.dispose()
    assert {key: found.get(key) for key in wanted} == wanted


def test_on_postgresql_partial_indexes_hold_what_their_models_say(database_url, postgresql_only):
    """Alembic's comparison ignores an index's WHERE; new items skip the done and trash indexes (issue #17)."""
    from sqlalchemy import text

    wanted = {index.name: str(index.dialect_options["postgresql"]["where"])
              for table in migrate.Base.metadata.tables.values() for index in table.indexes
              if index.dialect_options["postgresql"]["where"] is not None}
    assert wanted, "no model index is partial"
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = dict(connection.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")).all())
    finally:
        engine.dispose()
    assert {name: found.get(name, "").partition(" WHERE ")[2].strip("()") for name in wanted} == wanted
