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
