"""`headwater catalog …`: import product feeds, list the imports."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from headwater.catalog.feeds import FORMATS, FeedRefused
from headwater.catalog.imports import record_refused, run_import
from headwater.catalog.imports import report as import_report
from headwater.catalog.sources import feed_stream, is_url, open_path, open_url
from headwater.commands.common import Opened, project_command


@click.group(name="catalog")
def catalog_group() -> None:
    """The product catalog: import JSON, XML and Google Merchant feeds."""


@catalog_group.command(name="import")
@project_command
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Feed format [default: detected]."
)
@click.option(
    "--full",
    is_flag=True,
    help="The feed is the whole catalog: flag products it lacks as removed (never deleted).",
)
@click.argument("feed")
def import_catalog(opened: Opened, fmt: str | None, full: bool, feed: str) -> None:
    """Import the feed at FEED (a file, an http(s) URL, or - for standard input).

    Prints the import report as JSON. Exits 0 when the import completed (rejected products
    are listed in the report and quarantined), 1 when the feed was refused (malformed,
    hostile or unreachable), 2 for usage errors.
    """
    settings, store, project_id = opened.settings, opened.store, opened.project.id
    source = "stdin" if feed == "-" else feed
    try:
        if is_url(feed):
            raw, size, gz = open_url(feed, settings.catalog_fetch_timeout_seconds)
            cap: int | None = settings.catalog_max_feed_bytes
        else:
            raw, size, gz = open_path(feed)
            cap = None  # the operator's own file
    except FeedRefused as exc:
        record = record_refused(store, project_id, fmt, source, full, exc.message)
    else:
        with _progress(size) as (bytes_read, products_read):
            record = run_import(
                store,
                project_id,
                feed_stream(raw, gz, cap, bytes_read),
                fmt=fmt,
                full=full,
                source=source,
                key_prefix="cli",
                max_product_bytes=settings.max_product_bytes,
                max_id_length=settings.max_string_length,
                progress=products_read,
            )
    click.echo(json.dumps(import_report(record), indent=2))
    if record.status != "completed":
        click.echo(f"Error: {record.error}", err=True)
        sys.exit(1)


@contextmanager
def _progress(
    size: int | None,
) -> Iterator[tuple[Callable[[int], None] | None, Callable[[int], None] | None]]:
    """(bytes callback, products callback): a bar over the feed's bytes on standard error
    when its size is known, a running product count otherwise."""
    if size:
        with click.progressbar(length=size, label="Importing", file=sys.stderr) as bar:
            yield bar.update, None
        return
    count = 0

    def products(n: int) -> None:
        nonlocal count
        count += n
        if sys.stderr.isatty():
            click.echo(f"\rImported {count} products", err=True, nl=False)

    yield None, products
    if count and sys.stderr.isatty():
        click.echo(err=True)


@catalog_group.command(name="imports")
@project_command
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
def list_imports(opened: Opened, limit: int) -> None:
    """Print the import history, newest first, one JSON report per line."""
    for record in opened.store.list_imports(opened.project.id, None, limit):
        click.echo(json.dumps(import_report(record)))
