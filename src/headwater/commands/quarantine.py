"""`headwater quarantine …`: items that failed validation, listed, replayed or dismissed."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from headwater.commands.common import Opened, project_command
from headwater.ingest.dismiss import DISMISSABLE, STATUSES, dismiss
from headwater.ingest.replay import replay_pending
from headwater.model.views import quarantine_view


@click.group(name="quarantine")
def quarantine_group() -> None:
    """Items that failed validation: list them, replay them after a fix, or dismiss them."""


@quarantine_group.command(name="list")
@project_command
@click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--after", type=click.IntRange(0), default=0, help="Only entries with a larger id.")
def list_quarantine(opened: Opened, status: str, limit: int, after: int) -> None:
    """Print quarantined entries, one JSON object per line, oldest first."""
    chosen = None if status == "all" else status
    for entry in opened.store.list_quarantine(opened.project.id, chosen, after, limit):
        click.echo(json.dumps(quarantine_view(entry)))


@quarantine_group.command(name="replay")
@project_command
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
def replay_quarantine(opened: Opened, ids: tuple[int, ...], item: Any) -> None:
    """Validate pending entries again with the current rules and store what now passes."""
    report = replay_pending(
        opened.store, opened.settings, opened.project.id, set(ids) if ids else None,
        item.read() if item else None,
    )  # fmt: skip
    click.echo(json.dumps(report.wire()))
    if report.failed:
        sys.exit(1)


@quarantine_group.command(name="dismiss")
@project_command
@click.option(
    "--id", "ids", type=click.IntRange(0, 2**63 - 1), multiple=True, help="Entry id; repeat."
)
@click.option("--status", type=click.Choice(DISMISSABLE), help="Every entry with this status.")
def dismiss_quarantine(opened: Opened, ids: tuple[int, ...], status: str | None) -> None:
    """Dismiss entries that will never be replayed (their raw content is deleted): those
    given by --id, those with --status, or those given by --id that also have --status.
    Prints {"dismissed": N, "missing": [...]} and exits 1 when an --id was not dismissed."""
    if not ids and status is None:
        raise click.UsageError("give --id (repeatable), --status, or both")
    report = dismiss(opened.store, opened.project.id, ids or None, status, "cli")
    click.echo(json.dumps(report.wire()))
    if report.missing:
        sys.exit(1)
