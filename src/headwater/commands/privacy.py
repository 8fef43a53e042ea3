"""`headwater consent …` and `headwater privacy …`: consent requirements, access and
erasure requests."""

from __future__ import annotations

import json
import sys

import click

from headwater.clock import now_ms
from headwater.commands.common import Opened, database_options, opened_store, project_command
from headwater.commands.profiles import one_identifier, person_options
from headwater.consent import export as exporting
from headwater.consent import requests
from headwater.profiles import lookup


@click.group(name="consent")
def consent_group() -> None:
    """Which consent categories a project requires before it stores a person's events."""


@consent_group.command(name="require")
@project_command
@click.argument("categories", nargs=-1)
def require_consent(opened: Opened, categories: tuple[str, ...]) -> None:
    """Require exactly CATEGORIES (none: enforcement off). From the next batch on, events of
    a person who rejected one of them, or whose consent expired, are not stored."""
    opened.store.set_required_categories(opened.project.id, categories, now_ms())
    required = opened.store.required_categories(opened.project.id)
    click.echo(f"required: {', '.join(required)}" if required else "required: none")


@consent_group.command(name="required")
@project_command
def required_consent(opened: Opened) -> None:
    """Print the required categories, one per line."""
    for category in opened.store.required_categories(opened.project.id):
        click.echo(category)


@click.group(name="privacy")
def privacy_group() -> None:
    """Access and erasure requests for one person, by any of their identifiers."""


@privacy_group.command(name="export")
@project_command
@person_options
def export_person(opened: Opened, user_id: str | None, profile_id: str | None) -> None:
    """Print everything stored about the person as one JSON document (events, attributes,
    identities, sessions, consents, accounts)."""
    one_identifier(user_id, profile_id)
    settings = opened.settings
    requests.check_identifier(user_id, profile_id, settings.max_string_length)
    chunks = exporting.export(
        opened.store, opened.project.id, settings.caps,
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
@project_command
@person_options
@click.option(
    "--suppress", is_flag=True, help="Also refuse every later event naming the identifiers."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_person(
    opened: Opened, user_id: str | None, profile_id: str | None, suppress: bool, yes: bool
) -> None:
    """Erase the person: events, attributes, identities, sessions, consents and quarantined
    items naming them. Only a record that an erasure happened, and when, is kept. Asks for
    confirmation unless --yes; without a terminal and without --yes it refuses."""
    one_identifier(user_id, profile_id)
    if not yes and not interactive():
        raise click.UsageError("no terminal to confirm on: pass --yes to erase")
    settings, store, project_id = opened.settings, opened.store, opened.project.id
    limit = settings.caps
    requests.check_identifier(user_id, profile_id, settings.max_string_length)
    if not yes:
        resolution, person = lookup.person_of(store, project_id, limit, user_id, profile_id)
        if not suppress:  # nothing to confirm for nobody
            lookup.require_used(store, project_id, resolution, person)
        click.echo(f"Person {person.id}: userIds {', '.join(person.user_ids) or '-'}; "
                   f"profileIds {', '.join(person.profile_ids) or '-'}")  # fmt: skip
        what = "Erase everything stored about this person"
        click.confirm(f"{what}{' and suppress their identifiers' * suppress}?", abort=True)
    report = requests.erase(store, project_id, settings, user_id, profile_id, suppress, "cli")
    click.echo(json.dumps(report))


@privacy_group.command(name="scrub")
@database_options
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each table's lock before skipping it (0: as long as it takes).",
)
def scrub_erased(db: str | None, database_url: str | None, lock_timeout: float) -> None:
    """Rewrite the store's files so that no erased value remains in them (PostgreSQL keeps
    a deleted row's bytes until its table is rewritten). Prints a JSON report; exits 1 when a
    table stayed locked past --lock-timeout (run it again)."""
    with opened_store(db, database_url) as (_, store):
        report = store.scrub_erased(lock_timeout)
    click.echo(json.dumps(report))
    if report["scrub"] != "complete":
        sys.exit(1)


@privacy_group.command(name="erasures")
@project_command
def list_erasures(opened: Opened) -> None:
    """Print every erasure of the project (when, who asked, what it removed), one JSON per
    line."""
    for erasure in opened.store.list_erasures(opened.project.id):
        click.echo(json.dumps(erasure))
