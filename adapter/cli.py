"""The `mc-adapter` command: serve, db, directory, token."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from importlib import resources as importlib_resources

import click

from adapter.config import Config
from adapter.db import make_engine, utcnow


def _config(**overrides) -> Config:
    return Config.from_env().with_overrides(**{k: v for k, v in overrides.items() if v is not None})


def _prepare_database(config: Config) -> None:
    """SQLite is migrated on start (zero set-up); PostgreSQL must be upgraded explicitly."""
    from adapter import migrate

    engine = make_engine(config.database_url)
    try:
        if config.is_sqlite:
            migrate.upgrade(engine)
        elif migrate.current_revision(engine) != migrate.head_revision():
            raise click.ClickException("the database schema is not at the newest revision: run `mc-adapter db upgrade`")
    finally:
        engine.dispose()


def _app_state(config: Config):
    from adapter.app import create_app

    return create_app(config).extensions["mc"]


def sandbox_directory_path() -> str:
    """The synthetic directory shipped in the package."""
    return str(importlib_resources.files("adapter.directory") / "sandbox_directory.json")


def _load_sandbox(config: Config) -> None:
    from adapter.directory.loader import adapter_context, load_directory
    from adapter.secrets import get_setting, set_setting

    app_state = _app_state(config)
    with app_state.sessions.begin() as session:
        loaded = get_setting(session, key="sandbox_directory_loaded")
        set_setting(session, key="sandbox", value="true")
    if loaded:
        return
    report = load_directory(path=sandbox_directory_path(), make_context=lambda: adapter_context(app_state))
    if report.failed:
        raise click.ClickException("the sandbox directory did not load: " + "; ".join(report.failed[:5]))
    with app_state.sessions.begin() as session:
        set_setting(session, key="sandbox_directory_loaded", value=utcnow().isoformat())
    click.echo(f"sandbox directory loaded: {report.created} resources", err=True)


@click.group()
def main() -> None:
    """mc-adapter: FHIR R4 integration adapter for Meddelandecenter."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="gunicorn worker processes (default: MC_WORKERS or 2)")
@click.option("--sandbox", is_flag=True, help="Load the synthetic directory on first start and issue sandbox tokens.")
@click.option("--no-worker", is_flag=True, help="On SQLite: do not run a delivery worker beside the server.")
def serve(host: str, port: int, workers: int | None, sandbox: bool, no_worker: bool) -> None:
    """Serve the adapter with gunicorn."""
    from adapter.server import AdapterServer

    from adapter.ops.logs import configure_logging

    configure_logging()
    config = _config(sandbox=True if sandbox else None, workers=workers).bound_to(host, port)
    _warn_if_routine_expired()
    _prepare_database(config)
    if config.sandbox:
        _load_sandbox(config)
    click.echo(f"mc-adapter on {config.fhir_base_url} (database {config.database_url.split('://')[0]}"
               f"{', sandbox' if config.sandbox else ''})", err=True)
    # On the embedded default the sandbox delivers too; PostgreSQL deployments run `mc-adapter worker`.
    AdapterServer(config, host=host, port=port, workers=config.workers, threads=config.threads,
                  delivery_worker=config.is_sqlite and not no_worker).run()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the newest."""
    from adapter import migrate

    engine = make_engine(_config().database_url)
    migrate.upgrade(engine)
    click.echo(f"schema at {migrate.current_revision(engine)}")


@db.command("check")
def db_check() -> None:
    """Fail when the models and the migrated schema differ."""
    from adapter import migrate

    differences = migrate.drift(make_engine(_config().database_url))
    if differences:
        raise click.ClickException(f"models and migrations differ: {differences}")
    click.echo("models and migrations agree")


@main.group()
def directory() -> None:
    """The directory of units, users and inboxes."""


@directory.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def directory_load(path: str, batch_size: int) -> None:
    """Load a directory Bundle (transaction or batch) idempotently, in batches."""
    from adapter.directory.loader import adapter_context, load_directory

    config = _config()
    _prepare_database(config)
    app_state = _app_state(config)
    with click.progressbar(length=_count_entries(path), label="loading", file=sys.stderr) as bar:
        report = load_directory(path=path, make_context=lambda: adapter_context(app_state),
                                batch_size=batch_size, progress=bar.update)
    click.echo(json.dumps({"created": report.created, "updated": report.updated,
                           "unchanged": report.unchanged, "failed": len(report.failed)}))
    for failure in report.failed[:20]:
        click.echo(f"failed: {failure}", err=True)
    if report.failed:
        sys.exit(1)


def _count_entries(path: str) -> int:
    import ijson

    with open(path, "rb") as handle:
        return sum(1 for _ in ijson.items(handle, "entry.item.fullUrl")) or 1


@main.command()
@click.option("--as", "hsa_id", help="The user's HSA-id.")
@click.option("--unit", help="The unit HSA-id of the assignment the user acts under.")
@click.option("--operator", is_flag=True, help="The sandbox operator: sees all the synthetic data, acts as förvaltning.")
@click.option("--client", help="A registered client's id (`mc-adapter client add`): its organisation, scopes and roles.")
@click.option("--scopes", help="With --client: narrow the client's registered scopes.")
@click.option("--minutes", default=5, show_default=True, type=click.IntRange(1, 60 * 24 * 30),
              help="Lifetime; five minutes, as SMART access tokens, unless asked for longer.")
def token(hsa_id: str | None, unit: str | None, operator: bool, client: str | None, scopes: str | None, minutes: int) -> None:
    """Issue a sandbox token (sandbox databases only); prints only the token."""
    from adapter.auth import tokens
    from adapter.auth.models import Client
    from adapter.secrets import get_or_create_secret, get_setting

    if [bool(hsa_id), bool(client), operator].count(True) != 1:
        raise click.UsageError("give one of --as <HSA-id>, --client <client id>, or --operator")
    config = _config()
    _prepare_database(config)
    app_state = _app_state(config)
    with app_state.sessions.begin() as session:
        if not (config.sandbox or get_setting(session, key="sandbox") == "true"):
            raise click.ClickException("sandbox tokens exist only in sandbox mode (serve --sandbox)")
        key = get_or_create_secret(session, name="sandbox_token_key")
        registered = session.get(Client, client) if client else None
        if client and (registered is None or not registered.active):
            raise click.ClickException(f"no enabled client {client}: register it with `mc-adapter client add`")
        registered_scopes = registered.scopes if registered else ""
    lifetime = timedelta(minutes=minutes)
    if operator:
        text = tokens.issue_operator_token(key=key, now=utcnow(), lifetime=lifetime)
    elif hsa_id:
        text = tokens.issue_user_token(key=key, hsa_id=hsa_id, unit=unit, now=utcnow(), lifetime=lifetime)
    else:
        text = tokens.issue_client_token(key=key, client=client, scopes=scopes or registered_scopes, now=utcnow(),
                                         lifetime=lifetime)
    click.echo(text)


def _warn_if_routine_expired() -> None:
    """`serve` and `worker` say at start when the rules implement an expired routine (also in /readyz, metrics)."""
    from adapter.messaging.policy import Routine

    warning = Routine.from_table().warning(utcnow().date())
    if warning:
        click.echo(f"WARNING: {warning}.", err=True)


@main.command()
def rules() -> None:
    """Print the flow rules and the routine they implement; warn when it is past its validity."""
    from adapter.db import utcnow
    from adapter.messaging.policy import Routine
    from adapter.messaging.rules_text import render_rules

    routine = Routine.from_table()
    click.echo(render_rules(routine))
    warning = routine.warning(utcnow().date())
    if warning:
        click.echo(f"WARNING: {warning}.", err=True)


@main.command("purge-trash")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def purge_trash(batch_size: int) -> None:
    """Delete items trashed 30 days ago or more (MC-R22). Idempotent; several hosts may run it at once."""
    from adapter.inbox.trash import purge_batch

    config = _config()
    _prepare_database(config)
    app_state = _app_state(config)
    total = 0
    while True:
        with app_state.sessions.begin() as session:
            deleted = purge_batch(session, now=app_state.clock(), limit=batch_size)
        total += deleted
        if deleted < batch_size:
            break
    click.echo(json.dumps({"purged": total}))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def bench(ctx: click.Context) -> None:
    """The ingest and polling benchmark (same options as `python -m adapter.bench --help`)."""
    from adapter.bench.run import main as bench_main

    sys.exit(bench_main(ctx.args))


@main.group()
def client() -> None:
    """System clients (SMART Backend Services)."""


@client.command("add")
@click.option("--org", "organization", required=True, help="The organisation's HSA-id the client acts for.")
@click.option("--jwks", "jwks_path", type=click.Path(exists=True, dir_okay=False),
              help="The client's public JWK Set (without it the client has sandbox tokens only).")
@click.option("--scopes", default="system/Task.rs system/Task.u system/Communication.crs", show_default=True)
@click.option("--capability", "capabilities", multiple=True,
              help="A role of mappings/client_capabilities.csv: ehr (system messages, documents), result-source (results).")
@click.option("--id", "client_id", help="The client id (default: generated).")
def client_add(organization: str, jwks_path: str | None, scopes: str, capabilities: tuple[str, ...],
               client_id: str | None) -> None:
    """Register a client bound to one organisation; prints its client_id."""
    from adapter.auth.backend_services import register_client
    from adapter.identifiers import InvalidIdentifier, normalise_hsa_id

    try:
        organization = normalise_hsa_id(organization)
        jwks = None
        if jwks_path:
            with open(jwks_path, encoding="utf-8") as handle:
                jwks = json.load(handle)
    except (InvalidIdentifier, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    config = _config()
    _prepare_database(config)
    app_state = _app_state(config)
    try:
        with app_state.sessions.begin() as session:
            client_id = register_client(session, organization_hsa_id=organization, jwks=jwks, scopes=scopes, now=utcnow(),
                                        capabilities=capabilities, client_id=client_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(client_id)


@client.command("disable")
@click.argument("client_id")
def client_disable(client_id: str) -> None:
    """Stop a client at once: its tokens and assertions are refused from the next request on."""
    from adapter.auth.backend_services import set_client_active

    config = _config()
    _prepare_database(config)
    with _app_state(config).sessions.begin() as session:
        if not set_client_active(session, client_id=client_id, active=False):
            raise click.ClickException(f"no client {client_id}")
    click.echo(f"{client_id} disabled")


@main.command()
@click.option("--threads", type=click.IntRange(1, 64), help="Delivery threads (default: MC_DELIVERY_THREADS or 4).")
@click.option("--name", help="This worker's name in the attempts it records (default: host:pid).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), envvar="MC_WORKER_METRICS_PORT",
              help="Serve this worker's Prometheus metrics (deliveries, job runs) on this port (MC_WORKER_METRICS_PORT).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("--no-jobs", is_flag=True, help="Do not run the periodic jobs (trash purge, routine check, the subscription notifier, the Millennium poll) here.")
def worker(threads: int | None, name: str | None, metrics_port: int | None, metrics_host: str, no_jobs: bool) -> None:
    """Deliver the outbox and run the periodic jobs until SIGTERM or SIGINT; run as many as you like, on any hosts."""
    import signal
    import threading

    from adapter.delivery.worker import Worker
    from adapter.ops import jobs
    from adapter.ops.logs import configure_logging
    from adapter.ops.metrics import observe_delivery, serve_worker_metrics

    configure_logging()
    config = _config()
    _warn_if_routine_expired()
    _prepare_database(config)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app_state = _app_state(config)
    delivery = Worker(app_state, name=name, observe=observe_delivery)
    if metrics_port:
        serve_worker_metrics(app_state, host=metrics_host, port=metrics_port)
    if not no_jobs:
        threading.Thread(target=jobs.run_forever, args=(app_state, stop), kwargs={"worker": delivery.name},
                         name="periodic-jobs", daemon=True).start()
    if not no_jobs:  # subscription events in feed order, one notifier of the cluster at a time
        from adapter.subscriptions.notifier import Notifier

        threading.Thread(target=Notifier(app_state, interval=config.subscription_notify_seconds).run_forever, args=(stop,),
                         kwargs={"worker": delivery.name},
                         name="subscription-notifier", daemon=True).start()
    polls_millennium = config.millennium is not None and not no_jobs
    if polls_millennium:  # one worker of the cluster at a time (a lease in periodic_job), every MC_MILLENNIUM_POLL_SECONDS
        from adapter.millennium.inbound import Poller

        poller = Poller(app_state, app_state.registry.derived["millennium"])
        threading.Thread(target=poller.run_forever, args=(stop,), kwargs={"worker": delivery.name},
                         name="millennium-inbound", daemon=True).start()
    click.echo(f"mc-adapter worker {delivery.name}: {threads or config.delivery_threads} threads "
               f"({'polling every 0.5 s' if config.is_sqlite else 'LISTEN mc_outbox'})"
               f"{'' if no_jobs else ', periodic jobs'}{', Millennium inbound' if polls_millennium else ''}"
               f"{f', metrics on :{metrics_port}' if metrics_port else ''}", err=True)
    delivery.run(stop, threads=threads)
    click.echo("mc-adapter worker stopped", err=True)


@main.group()
def outbox() -> None:
    """What waits to leave the adapter, and dead letters."""


@outbox.command("status")
def outbox_status() -> None:
    """Counts by state and destination, and the oldest pending row's age (JSON)."""
    from adapter.delivery.outbox import status

    app_state = _app_state(_prepared())
    with app_state.sessions() as session:
        click.echo(json.dumps(status(session, now=app_state.clock()), indent=1))


@outbox.command("dead-letters")
@click.option("--destination", help="Only this destination's.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def outbox_dead_letters(destination: str | None, limit: int) -> None:
    """Dead letters, newest first, with every attempt (JSON; never the payload)."""
    from adapter.delivery.outbox import dead_letters

    app_state = _app_state(_prepared())
    with app_state.sessions() as session:
        click.echo(json.dumps(dead_letters(session, destination=destination, limit=limit), indent=1, default=str))


@outbox.command("retry")
@click.argument("entry_id", required=False)
@click.option("--all-for", "destination", help="Every dead letter of this destination.")
def outbox_retry(entry_id: str | None, destination: str | None) -> None:
    """Put a dead letter (by id) or all of a destination's back in the queue, with a fresh horizon."""
    from adapter.delivery.outbox import requeue
    from adapter.directory.loader import adapter_context

    if bool(entry_id) == bool(destination):
        raise click.UsageError("give a dead letter's id or --all-for DESTINATION")
    app_state = _app_state(_prepared())
    ctx = adapter_context(app_state)
    try:
        ids = requeue(ctx, entry_id=entry_id, destination=destination)
        ctx.session.commit()
    finally:
        ctx.session.close()
    if entry_id and not ids:
        raise click.ClickException(f"no dead letter {entry_id}")
    click.echo(json.dumps({"requeued": ids}))


def _prepared() -> Config:
    config = _config()
    _prepare_database(config)
    return config
