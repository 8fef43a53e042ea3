"""The `headwater` command. Thin: parses arguments, calls the library, prints.

`serve` and `migrate` live here; every other command group in `headwater.commands`.
"""

from __future__ import annotations

import os
import sys

import click

from headwater import logs
from headwater.commands import GROUPS
from headwater.commands.common import database_options, open_at, settings_of
from headwater.config import Settings
from headwater.errors import HeadwaterError
from headwater.store import open_store
from headwater.store.base import Store
from headwater.tenancy import provision

_settings = settings_of


def _open(settings: Settings) -> Store:
    """The store, created when missing (only serve, migrate and keys create may)."""
    return open_at(settings, create=True)


@click.group()
@click.version_option(package_name="headwater")
def main() -> None:
    """Headwater: a self-hosted customer data platform (Intempt wire protocol)."""


@main.command()
@database_options
@click.option("--host", help="Bind address [default: 127.0.0.1]. Env: HEADWATER_HOST.")
@click.option("--port", type=int, help="Port [default: 8080]. Env: HEADWATER_PORT.")
@click.option("--workers", type=int, help="Server processes [default: 1]. Env: HEADWATER_WORKERS.")
def serve(
    db: str | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
) -> None:
    """Start the HTTP server (granian). On an empty store, create a default project and key."""
    settings = _settings(db=db, database_url=database_url, host=host, port=port, workers=workers)
    store = _open(settings)
    try:
        created = provision.bootstrap(store)
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    base = f"http://{settings.host}:{settings.port}"
    if created:
        click.echo("Created organization 'default', project 'default' and a full-access key:")
        click.echo(f"  API key:   {created.api_key}")
        click.echo(f"  Source id: {created.source_id}")
        click.echo(f"  Track URL: {base}/v1/default/projects/default/track")
        click.echo("Store the key now: only a hash of it is kept.")
    click.echo(f"Headwater listening on {base} (store: {settings.store_label})")
    sys.stdout.flush()
    os.environ.update(settings.as_env())  # worker processes read their settings from here

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "headwater.api.app:create_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        factory=True,
        log_access=False,
        # Bounds shutdown: a SIGTERM that lands while a worker is still starting is otherwise
        # lost by that worker, and granian 2.8 then waits for it forever.
        workers_kill_timeout=10,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=logs.GRANIAN_LOGGING,
    ).serve()


@main.command()
@database_options
def migrate(db: str | None, database_url: str | None) -> None:
    """Apply pending schema migrations."""
    settings = _settings(db=db, database_url=database_url)
    try:
        store = open_store(settings)
        applied = store.migrate()
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    store.close()
    click.echo(f"applied migrations: {', '.join(map(str, applied))}" if applied else "up to date")


for group in GROUPS:
    main.add_command(group)
