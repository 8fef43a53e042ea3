"""`headwater keys …` and `headwater projects …`: who may send and read what."""

from __future__ import annotations

import dataclasses
import json

import click

from headwater.clock import now_ms
from headwater.commands.common import (
    Opened,
    choose_project,
    database_options,
    open_at,
    opened_store,
    project_command,
    project_options,
    settings_of,
)
from headwater.errors import HeadwaterError
from headwater.model.event import EVENT_COLUMNS
from headwater.store.base import EventQuery, Store
from headwater.tenancy import keys, provision
from headwater.tenancy.provision import NewKey

_TIMESTAMP = EVENT_COLUMNS.index("timestamp")


@click.group(name="keys")
def keys_group() -> None:
    """API keys."""


@keys_group.command(name="create")
@database_options
@project_options
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
    org: str | None,
    project: str | None,
    source: str | None,
    scopes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create an API key, and whatever org, project and source it needs.

    With --org and --project the project is created when missing (and the store too);
    otherwise the key is for the only project matching what was given."""
    naming = org is not None and project is not None
    store = open_at(settings_of(db=db, database_url=database_url), create=naming)
    try:
        if not naming:
            chosen = choose_project(store, org, project)
            org, project = chosen.org, chosen.slug
        assert org is not None and project is not None
        made = provision.create_key(store, org, project, source, scopes or keys.SCOPES)
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(made)))
        return
    click.echo(_what_was_created(made))
    click.echo(f"API key:   {made.api_key}")
    click.echo(f"Project:   {made.org}/{made.project}")
    click.echo(f"Source id: {made.source_id}")
    click.echo(f"Scopes:    {', '.join(made.scopes)}")


def _what_was_created(made: NewKey) -> str:
    if made.created_org:
        return f"Created organization {made.org} and project {made.org}/{made.project}."
    if made.created_project:
        return f"Created project {made.org}/{made.project} in existing organization {made.org}."
    return f"Using existing project {made.org}/{made.project}."


@keys_group.command(name="list")
@project_command
def list_keys(opened: Opened) -> None:
    """Print the project's keys (prefixes and scopes; secrets are never stored), one JSON
    object per line."""
    for key in opened.store.list_keys(opened.project.id):
        click.echo(json.dumps(dataclasses.asdict(key)))


@keys_group.command(name="revoke")
@database_options
@click.argument("prefix")
def revoke_key(db: str | None, database_url: str | None, prefix: str) -> None:
    """Revoke the key whose prefix (the part before the dot) is PREFIX.

    Servers honour it within key_cache_seconds."""
    with opened_store(db, database_url) as (_, store):
        revoked = store.revoke_key(prefix.partition(".")[0], now_ms())
    if not revoked:
        raise click.ClickException(f"no active key with prefix {prefix.partition('.')[0]!r}")
    click.echo(f"revoked {prefix.partition('.')[0]}")


@click.group(name="projects")
def projects_group() -> None:
    """The store's organizations and projects."""


@projects_group.command(name="list")
@database_options
def list_projects(db: str | None, database_url: str | None) -> None:
    """Print every project, by org and slug, one JSON object per line."""
    with opened_store(db, database_url) as (_, store):
        for info in store.list_projects():
            click.echo(json.dumps({
                "org": info.project.org,
                "project": info.project.slug,
                "id": info.project.id,
                "created_at": info.created_at,
                **_counts(store, info.project.id),
            }))  # fmt: skip


def _counts(store: Store, project_id: int) -> dict[str, int | None]:
    newest = store.query_events(EventQuery(project_id, descending=True, limit=1))
    return {
        "keys": sum(key.revoked_at is None for key in store.list_keys(project_id)),
        "sources": len(store.list_sources(project_id)),
        "pending_quarantine": store.count_quarantine(project_id, "pending"),
        "latest_event_time": newest[0][_TIMESTAMP] if newest else None,
    }
