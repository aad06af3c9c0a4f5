"""Schema management through Alembic: upgrade, current revision, drift between models and migrations."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from adapter.db import Base
from adapter.fhir import models  # noqa: F401  (the tables)
from adapter.audit import models as audit_models  # noqa: F401
from adapter.auth import models as auth_models  # noqa: F401
from adapter.bench import baseline as bench_baseline  # noqa: F401
from adapter.directory import models as directory_models  # noqa: F401
from adapter.inbox import models as inbox_models  # noqa: F401
from adapter.proxies import models as proxy_models  # noqa: F401
from adapter.messaging import models as messaging_models  # noqa: F401
from adapter.delivery import models as delivery_models  # noqa: F401
from adapter.partner import models as partner_models  # noqa: F401
from adapter.ops import models as ops_models  # noqa: F401
from adapter.millennium import models as millennium_models  # noqa: F401
from adapter.subscriptions import models as subscription_models  # noqa: F401
from adapter.followup import models as followup_models  # noqa: F401


def alembic_config() -> AlembicConfig:
    """Alembic's configuration, pointing at the migrations inside the package."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "adapter:migrations")
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def head_revision() -> str:
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when empty)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def drift(engine: Engine) -> list:
    """Differences between the models and the migrated schema (empty when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def autogenerate(engine: Engine, message: str) -> None:
    """Write a new migration from the models (developer tool)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True, rev_id=None)
