"""The `headwater` command. Thin: parses arguments, calls the library, prints.

`serve` and `migrate` live here; every other command group in `headwater.commands`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from headwater import server
from headwater.commands import GROUPS
from headwater.commands.common import database_options, open_at, settings_of
from headwater.config import Settings
from headwater.errors import HeadwaterError
from headwater.store import open_store
from headwater.store.base import Store
from headwater.tenancy import first_key

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
@click.option(
    "--reuse-port",
    is_flag=True,
    default=None,
    help="Share the port with other servers started with this flag (SO_REUSEPORT); without "
    "it an address in use is refused. Env: HEADWATER_REUSE_PORT.",
)
def serve(
    db: str | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    reuse_port: bool | None,
) -> None:
    """Start the HTTP server (granian). On an empty store, create a default project and key."""
    settings = _settings(
        db=db,
        database_url=database_url,
        host=host,
        port=port,
        workers=workers,
        reuse_port=reuse_port or None,
    )
    try:  # first: before anything is printed or created (one server per port)
        listener = server.listen(settings.host, settings.port, settings.reuse_port)
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    with listener:
        store = _open(settings)
        try:
            lines = first_key.bootstrap(
                store,
                server.url(settings.host, settings.port),
                settings.store_label,
                sys.stdout.isatty(),
                Path.cwd(),
            )
        except HeadwaterError as exc:
            raise click.ClickException(exc.message) from None
        finally:
            store.close()
        for line in lines:
            click.echo(line)
        where = server.address(settings.host, settings.port)
        click.echo(f"Headwater listening on http://{where} (store: {settings.store_label})")
        sys.stdout.flush()
        os.environ.update(settings.as_env())  # worker processes read their settings from here
        server.run(settings, listener)


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
