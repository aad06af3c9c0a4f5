"""Alembic environment: runs on the connection `adapter.migrate` hands in."""

from __future__ import annotations

from alembic import context

from adapter.db import Base
from adapter.fhir import models  # noqa: F401  (registers the tables on Base.metadata)
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

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two hosts starting at once must not migrate concurrently (as warehouse does).
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7294010)")
            connection.exec_driver_sql("SET LOCAL lock_timeout = '60s'")
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `mc-adapter db upgrade`")
run_migrations_online()
