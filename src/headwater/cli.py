"""The `headwater` command. Thin: parses arguments, calls the library, prints."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from headwater import logs
from headwater.catalog.feeds import FORMATS, FeedRefused
from headwater.catalog.imports import record_refused, run_import
from headwater.catalog.imports import report as import_report
from headwater.catalog.sources import feed_stream, is_url, open_path, open_url
from headwater.clock import now_ms
from headwater.config import Settings
from headwater.consent import export as exporting
from headwater.consent import requests
from headwater.errors import HeadwaterError
from headwater.ingest.replay import replay_pending
from headwater.model.views import quarantine_view
from headwater.profiles import lookup
from headwater.profiles.attributes import STRATEGIES
from headwater.store import open_store
from headwater.store.base import Project, Store
from headwater.tenancy import keys, provision


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings.from_env(overrides)
        settings.store  # noqa: B018 - refuses an unsupported database URL up front
        return settings
    except HeadwaterError as exc:
        raise click.UsageError(exc.message) from None


def database_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--database-url", help="Database URL (sqlite:///PATH). Env: HEADWATER_DATABASE_URL."
    )(command)
    return click.option(
        "--db", "db", help="SQLite database file [default: ./headwater.db]. Env: HEADWATER_DB."
    )(command)


def project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--project", required=True)(command)
    return click.option("--org", required=True)(command)


def _open(settings: Settings) -> Store:
    try:
        store = open_store(settings)
        store.migrate()
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    return store


@contextmanager
def _store(db: str | None, database_url: str | None) -> Iterator[tuple[Settings, Store]]:
    """The settings and a migrated store, closed afterwards; errors become CLI errors."""
    settings = _settings(db=db, database_url=database_url)
    store = _open(settings)
    try:
        yield settings, store
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


def _project(store: Store, org: str, project: str) -> Project:
    found = store.find_project(org, project)
    if found is None:
        raise click.ClickException(f"project {org}/{project} not found")
    return found


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


@main.group(name="keys")
def keys_group() -> None:
    """API keys."""


@keys_group.command(name="create")
@database_options
@click.option("--org", required=True, help="Organization slug (created when missing).")
@click.option("--project", required=True, help="Project slug (created when missing).")
@click.option("--source", help="Source name (created when missing) [default: default].")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(keys.SCOPES),
    help="Scope of the key; repeat for several [default: all of ingest, read, admin].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_key(
    db: str | None,
    database_url: str | None,
    org: str,
    project: str,
    source: str | None,
    scopes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create an API key, and whatever org, project and source it needs."""
    with _store(db, database_url) as (_, store):
        made = provision.create_key(store, org, project, source, scopes or keys.SCOPES)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "api_key": made.api_key,
                    "org": made.org,
                    "project": made.project,
                    "source_id": made.source_id,
                    "scopes": made.scopes,
                }
            )
        )
    else:
        click.echo(f"API key:   {made.api_key}")
        click.echo(f"Project:   {made.org}/{made.project}")
        click.echo(f"Source id: {made.source_id}")
        click.echo(f"Scopes:    {', '.join(made.scopes)}")


@keys_group.command(name="list")
@database_options
@project_options
def list_keys(db: str | None, database_url: str | None, org: str, project: str) -> None:
    """Print the project's keys (prefixes and scopes; secrets are never stored), one JSON
    object per line."""
    with _store(db, database_url) as (_, store):
        found = _project(store, org, project)
        summaries = store.list_keys(found.id)
    for key in summaries:
        click.echo(json.dumps(dataclasses.asdict(key)))


@keys_group.command(name="revoke")
@database_options
@click.argument("prefix")
def revoke_key(db: str | None, database_url: str | None, prefix: str) -> None:
    """Revoke the key whose prefix (the part before the dot) is PREFIX.

    Servers honour it within key_cache_seconds."""
    with _store(db, database_url) as (_, store):
        revoked = store.revoke_key(prefix.partition(".")[0], now_ms())
    if not revoked:
        raise click.ClickException(f"no active key with prefix {prefix.partition('.')[0]!r}")
    click.echo(f"revoked {prefix.partition('.')[0]}")


def _identifier(user_id: str | None, profile_id: str | None) -> None:
    if (user_id is None) == (profile_id is None):
        raise click.UsageError("give exactly one of --user-id or --profile-id")


def person_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--profile-id", help="The person by a profileId.")(command)
    command = click.option("--user-id", help="The person by a userId.")(command)
    return project_options(command)


@main.group(name="profile")
def profile_group() -> None:
    """Unified profiles."""


@profile_group.command(name="show")
@database_options
@person_options
def show_profile(
    db: str | None,
    database_url: str | None,
    org: str,
    project: str,
    user_id: str | None,
    profile_id: str | None,
) -> None:
    """Print the person's profile as JSON (the same as GET …/profiles/lookup)."""
    _identifier(user_id, profile_id)
    with _store(db, database_url) as (settings, store):
        found = _project(store, org, project)
        person = lookup.profile(
            store, found.id, settings.caps, user_id, profile_id,
            settings.session_timeout_minutes * 60_000,
        )  # fmt: skip
    click.echo(json.dumps(person, indent=2, ensure_ascii=False))


@profile_group.command(name="split")
@database_options
@project_options
@click.option("--user-id", help="Split this userId off the person it was merged into.")
@click.option("--profile-id", help="Split this profileId off the person it was linked to.")
def split_profile(
    db: str | None,
    database_url: str | None,
    org: str,
    project: str,
    user_id: str | None,
    profile_id: str | None,
) -> None:
    """Split an identifier off its person; exact (recomputed from events) and permanent."""
    if (user_id is None) == (profile_id is None):
        raise click.UsageError("give exactly one of --user-id or --profile-id")
    with _store(db, database_url) as (settings, store):
        limit = settings.caps
        found = _project(store, org, project)
        _, person = lookup.person_of(store, found.id, limit, user_id, profile_id)
        result = lookup.split(store, found.id, limit, person, user_id, profile_id)
    click.echo(json.dumps(result))


@main.group(name="attributes")
def attributes_group() -> None:
    """How user attributes fold into a person's profile."""


@attributes_group.command(name="set")
@database_options
@project_options
@click.argument("name")
@click.argument("strategy", type=click.Choice(STRATEGIES))
def set_attribute(
    db: str | None, database_url: str | None, org: str, project: str, name: str, strategy: str
) -> None:
    """Fold attribute NAME with STRATEGY (latest is the default for every attribute)."""
    with _store(db, database_url) as (_, store):
        found = _project(store, org, project)
        store.set_attribute_strategy(found.id, name, strategy, now_ms())
    click.echo(f"{name}: {strategy}")


@attributes_group.command(name="list")
@database_options
@project_options
def list_attributes(db: str | None, database_url: str | None, org: str, project: str) -> None:
    """Print the attributes with a strategy other than the default, one per line."""
    with _store(db, database_url) as (_, store):
        found = _project(store, org, project)
        strategies = store.attribute_strategies(found.id)
    for name, strategy in sorted(strategies.items()):
        click.echo(f"{name}: {strategy}")


@main.group(name="quarantine")
def quarantine_group() -> None:
    """Items that failed validation: list them, replay them after a fix."""


@quarantine_group.command(name="list")
@database_options
@project_options
@click.option(
    "--status",
    type=click.Choice(["pending", "replayed", "refused", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--after", type=click.IntRange(0), default=0, help="Only entries with a larger id.")
def list_quarantine(
    db: str | None,
    database_url: str | None,
    org: str,
    project: str,
    status: str,
    limit: int,
    after: int,
) -> None:
    """Print quarantined entries, one JSON object per line, oldest first."""
    with _store(db, database_url) as (_, store):
        found = _project(store, org, project)
        chosen = None if status == "all" else status
        entries = store.list_quarantine(found.id, chosen, after, limit)
    for entry in entries:
        click.echo(json.dumps(quarantine_view(entry)))


@quarantine_group.command(name="replay")
@database_options
@project_options
@click.option(
    "--id",
    "ids",
    type=int,
    multiple=True,
    help="Entry id; repeat for several [default: all pending].",
)
@click.option(
    "--item",
    type=click.File("rb"),
    help="Corrected JSON of the one entry given by --id ('-': stdin).",
)
def replay_quarantine(
    db: str | None,
    database_url: str | None,
    org: str,
    project: str,
    ids: tuple[int, ...],
    item: Any,
) -> None:
    """Validate pending entries again with the current rules and store what now passes."""
    with _store(db, database_url) as (settings, store):
        found = _project(store, org, project)
        report = replay_pending(
            store, settings, found.id, set(ids) if ids else None, item.read() if item else None
        )
    click.echo(json.dumps(report.wire()))
    if report.failed:
        sys.exit(1)


@main.group(name="catalog")
def catalog_group() -> None:
    """The product catalog: import JSON, XML and Google Merchant feeds."""


@catalog_group.command(name="import")
@database_options
@project_options
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Feed format [default: detected]."
)
@click.option(
    "--full",
    is_flag=True,
    help="The feed is the whole catalog: flag products it lacks as removed (never deleted).",
)
@click.argument("feed")
def import_catalog(
    db: str | None,
    database_url: str | None,
    org: str,
    project: str,
    fmt: str | None,
    full: bool,
    feed: str,
) -> None:
    """Import the feed at FEED (a file, an http(s) URL, or - for standard input).

    Prints the import report as JSON. Exits 0 when the import completed (rejected products
    are listed in the report and quarantined), 1 when the feed was refused (malformed,
    hostile or unreachable), 2 for usage errors.
    """
    with _store(db, database_url) as (settings, store):
        found = _project(store, org, project)
        source = "stdin" if feed == "-" else feed
        try:
            if is_url(feed):
                raw, size, gz = open_url(feed, settings.catalog_fetch_timeout_seconds)
                cap: int | None = settings.catalog_max_feed_bytes
            else:
                raw, size, gz = open_path(feed)
                cap = None  # the operator's own file
        except FeedRefused as exc:
            record = record_refused(store, found.id, fmt, source, full, exc.message)
        else:
            with _progress(size) as (bytes_read, products_read):
                record = run_import(
                    store,
                    found.id,
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
@database_options
@project_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
def list_imports(
    db: str | None, database_url: str | None, org: str, project: str, limit: int
) -> None:
    """Print the import history, newest first, one JSON report per line."""
    with _store(db, database_url) as (_, store):
        found = _project(store, org, project)
        records = store.list_imports(found.id, None, limit)
    for record in records:
        click.echo(json.dumps(import_report(record)))


@main.group(name="consent")
def consent_group() -> None:
    """Which consent categories a project requires before it stores a person's events."""


@consent_group.command(name="require")
@database_options
@project_options
@click.argument("categories", nargs=-1)
def require_consent(
    db: str | None, database_url: str | None, org: str, project: str, categories: tuple[str, ...]
) -> None:
    """Require exactly CATEGORIES (none: enforcement off). From the next batch on, events of
    a person who rejected one of them, or whose consent expired, are not stored."""
    with _store(db, database_url) as (_, store):
        found = _project(store, org, project)
        store.set_required_categories(found.id, categories, now_ms())
        required = store.required_categories(found.id)
    click.echo(f"required: {', '.join(required)}" if required else "required: none")


@consent_group.command(name="required")
@database_options
@project_options
def required_consent(db: str | None, database_url: str | None, org: str, project: str) -> None:
    """Print the required categories, one per line."""
    with _store(db, database_url) as (_, store):
        required = store.required_categories(_project(store, org, project).id)
    for category in required:
        click.echo(category)


@main.group(name="privacy")
def privacy_group() -> None:
    """Access and erasure requests for one person, by any of their identifiers."""


@privacy_group.command(name="export")
@database_options
@person_options
def export_person(
    db: str | None, database_url: str | None, org: str, project: str,
    user_id: str | None, profile_id: str | None,
) -> None:  # fmt: skip
    """Print everything stored about the person as one JSON document (events, attributes,
    identities, sessions, consents, accounts)."""
    _identifier(user_id, profile_id)
    with _store(db, database_url) as (settings, store):
        found = _project(store, org, project)
        requests.check_identifier(user_id, profile_id, settings.max_string_length)
        chunks = exporting.export(
            store, found.id, settings.caps,
            settings.session_timeout_minutes * 60_000, user_id, profile_id, now_ms(),
        )  # fmt: skip
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.write(b"\n")
        out.flush()


def interactive() -> bool:
    """Whether a person can answer a prompt (standard input is a terminal)."""
    return sys.stdin.isatty()


@privacy_group.command(name="erase")
@database_options
@person_options
@click.option(
    "--suppress", is_flag=True, help="Also refuse every later event naming the identifiers."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_person(
    db: str | None, database_url: str | None, org: str, project: str,
    user_id: str | None, profile_id: str | None, suppress: bool, yes: bool,
) -> None:  # fmt: skip
    """Erase the person: events, attributes, identities, sessions, consents and quarantined
    items naming them. Only a record that an erasure happened, and when, is kept. Asks for
    confirmation unless --yes; without a terminal and without --yes it refuses."""
    _identifier(user_id, profile_id)
    if not yes and not interactive():
        raise click.UsageError("no terminal to confirm on: pass --yes to erase")
    with _store(db, database_url) as (settings, store):
        found = _project(store, org, project)
        limit = settings.caps
        requests.check_identifier(user_id, profile_id, settings.max_string_length)
        if not yes:
            resolution, person = lookup.person_of(store, found.id, limit, user_id, profile_id)
            if not suppress:  # nothing to confirm for nobody
                lookup.require_used(store, found.id, resolution, person)
            click.echo(f"Person {person.id}: userIds {', '.join(person.user_ids) or '-'}; "
                       f"profileIds {', '.join(person.profile_ids) or '-'}")  # fmt: skip
            what = "Erase everything stored about this person"
            click.confirm(f"{what}{' and suppress their identifiers' * suppress}?", abort=True)
        report = requests.erase(store, found.id, settings, user_id, profile_id, suppress, "cli")
    click.echo(json.dumps(report))


@privacy_group.command(name="erasures")
@database_options
@project_options
def list_erasures(db: str | None, database_url: str | None, org: str, project: str) -> None:
    """Print every erasure of the project (when, who asked, what it removed), one JSON per
    line."""
    with _store(db, database_url) as (_, store):
        erasures = store.list_erasures(_project(store, org, project).id)
    for erasure in erasures:
        click.echo(json.dumps(erasure))
