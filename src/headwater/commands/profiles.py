"""`headwater profile …` and `headwater attributes …`: unified profiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from headwater.clock import now_ms
from headwater.commands.common import Opened, project_command
from headwater.profiles import lookup
from headwater.profiles.attributes import STRATEGIES


def one_identifier(user_id: str | None, profile_id: str | None) -> None:
    if (user_id is None) == (profile_id is None):
        raise click.UsageError("give exactly one of --user-id or --profile-id")


def person_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--profile-id", help="The person by a profileId.")(command)
    return click.option("--user-id", help="The person by a userId.")(command)


@click.group(name="profile")
def profile_group() -> None:
    """Unified profiles."""


@profile_group.command(name="show")
@project_command
@person_options
def show_profile(opened: Opened, user_id: str | None, profile_id: str | None) -> None:
    """Print the person's profile as JSON (the same as GET …/profiles/lookup)."""
    one_identifier(user_id, profile_id)
    settings = opened.settings
    person = lookup.profile(
        opened.store, opened.project.id, settings.caps, user_id, profile_id,
        settings.session_timeout_minutes * 60_000,
    )  # fmt: skip
    click.echo(json.dumps(person, indent=2, ensure_ascii=False))


@profile_group.command(name="split")
@project_command
@click.option("--user-id", help="Split this userId off the person it was merged into.")
@click.option("--profile-id", help="Split this profileId off the person it was linked to.")
def split_profile(opened: Opened, user_id: str | None, profile_id: str | None) -> None:
    """Split an identifier off its person; exact (recomputed from events) and permanent."""
    one_identifier(user_id, profile_id)
    store, project_id = opened.store, opened.project.id
    limit = opened.settings.caps
    _, person = lookup.person_of(store, project_id, limit, user_id, profile_id)
    click.echo(json.dumps(lookup.split(store, project_id, limit, person, user_id, profile_id)))


@click.group(name="attributes")
def attributes_group() -> None:
    """How user attributes fold into a person's profile."""


@attributes_group.command(name="set")
@project_command
@click.argument("name")
@click.argument("strategy", type=click.Choice(STRATEGIES))
def set_attribute(opened: Opened, name: str, strategy: str) -> None:
    """Fold attribute NAME with STRATEGY (latest is the default for every attribute)."""
    opened.store.set_attribute_strategy(opened.project.id, name, strategy, now_ms())
    click.echo(f"{name}: {strategy}")


@attributes_group.command(name="list")
@project_command
def list_attributes(opened: Opened) -> None:
    """Print the attributes with a strategy other than the default, one per line."""
    strategies = opened.store.attribute_strategies(opened.project.id)
    for name, strategy in sorted(strategies.items()):
        click.echo(f"{name}: {strategy}")
