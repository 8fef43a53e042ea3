"""`headwater events …`: follow events as they commit, export them, prune old ones."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click
import msgspec

from headwater.clock import now_ms
from headwater.commands.common import (
    Opened,
    Timestamp,
    choose_project,
    database_options,
    on_terminal,
    opened_store,
    project_command,
    project_options,
    stored_text,
)
from headwater.events import retention
from headwater.events.export import FORMATS, check_format, export
from headwater.events.tail import Tail, start_seq
from headwater.model.views import event_view
from headwater.store.base import EventQuery

TAIL_PAGE = 1000


@click.group(name="events")
def events_group() -> None:
    """Events leaving the store: follow, export, prune."""


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, what in (
        ("--account-id", "accountId"),
        ("--profile-id", "profileId"),
        ("--user-id", "userId"),
        ("--event-name", "eventName"),
    ):
        command = click.option(flag, callback=stored_text, help=f"Only events with this {what}.")(
            command
        )
    return command


def _query(opened: Opened, **filters: Any) -> EventQuery:
    return EventQuery(opened.project.id, **filters)


@events_group.command(name="tail")
@project_command
@filter_options
@click.option("--from-start", is_flag=True, help="Begin with the oldest stored event.")
@click.option(
    "--after-seq",
    type=click.IntRange(0, 2**63 - 1),
    help="Begin after this seq (the `seq` of the last line printed, to resume).",
)
@click.option("--limit", type=click.IntRange(1), help="Stop after this many events.")
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60),
    default=0.5,
    show_default=True,
    help="Seconds between looks for new events.",
)
def tail_events(
    opened: Opened, event_name: str | None, user_id: str | None, profile_id: str | None,
    account_id: str | None, from_start: bool, after_seq: int | None, limit: int | None,
    interval: float,
) -> None:  # fmt: skip
    """Print events as they commit, one JSON object per line (the events API's, with its
    `seq`), until Ctrl-C (or --limit events). Starts with the next event to commit, unless
    --from-start or --after-seq."""
    if from_start and after_seq is not None:
        raise click.UsageError("give --from-start or --after-seq, not both")
    query = _query(opened, event_name=event_name, user_id=user_id, profile_id=profile_id,
                   account_id=account_id)  # fmt: skip
    start = after_seq if after_seq is not None else start_seq(opened.store, from_start)
    follower = Tail(opened.store, query, start)
    encoder = msgspec.json.Encoder()
    out = sys.stdout.buffer
    left = limit
    with _stopped_cleanly(out):
        while left is None or left > 0:
            rows = follower.poll(TAIL_PAGE if left is None else min(TAIL_PAGE, left))
            if rows:
                out.write(encoder.encode_lines([{**event_view(r), "seq": r[-1]} for r in rows]))
                out.flush()
                left = None if left is None else left - len(rows)
            if len(rows) < TAIL_PAGE and (left is None or left > 0):
                time.sleep(interval)


@contextlib.contextmanager
def _stopped_cleanly(out: IO[bytes]) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the command with status 0; a closed pipe (`| head`) too."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # no flush at exit into the closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    finally:
        signal.signal(signal.SIGTERM, previous)


@events_group.command(name="export")
@project_command
@filter_options
@click.option("--from", "since", type=Timestamp(), help="Events at or after this time.")
@click.option("--to", "until", type=Timestamp(), help="Events before this time.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="[default: from the output file's extension, else ndjson]",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    help="File to write [default: standard output].",
)
def export_events(
    opened: Opened, event_name: str | None, user_id: str | None, profile_id: str | None,
    account_id: str | None, since: int | None, until: int | None, fmt: str | None,
    output: Path,
) -> None:  # fmt: skip
    """Write the project's events (filtered, in a time range) as NDJSON, CSV or Parquet,
    oldest first, in constant memory. Times are epoch ms or ISO-8601 (UTC unless an offset
    is given). With --output FILE, prints {"exported": N, ...} when done."""
    chosen = check_format(fmt or _format_of(output))
    if chosen == "parquet" and str(output) == "-" and sys.stdout.isatty():
        raise click.UsageError("Parquet is binary: write it to a file with --output FILE")
    query = _query(opened, event_name=event_name, user_id=user_id, profile_id=profile_id,
                   account_id=account_id, since=since, until=until)  # fmt: skip
    total = opened.store.count_events(query) if on_terminal() else None
    exported = 0
    with _bar(total, "Exporting") as advance, _destination(output) as out:

        def counted(n: int) -> None:
            nonlocal exported
            exported += n
            advance(n)

        for chunk in export(opened.store, query, chosen, counted):
            out.write(chunk)
    if str(output) != "-":
        click.echo(json.dumps({"exported": exported, "format": chosen, "output": str(output)}))


def _format_of(output: Path) -> str:
    suffix = output.suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "ndjson"


@contextlib.contextmanager
def _destination(output: Path) -> Iterator[IO[bytes]]:
    """Standard output, or a file that appears under its name only once complete."""
    if str(output) == "-":
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as file:
            yield file
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _bar(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar over `total` items on standard error, when it is a terminal."""
    if not total:
        yield lambda _: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


@events_group.command(name="prune")
@database_options
@project_options
@click.option(
    "--older-than-days",
    type=click.IntRange(1),
    help="Delete events with an event time more than this many days ago "
    "[default: the retention_days setting].",
)
@click.option("--all-projects", is_flag=True, help="Prune every project of the store.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def prune_events(
    db: str | None, database_url: str | None, org: str | None, project: str | None,
    older_than_days: int | None, all_projects: bool, dry_run: bool,
) -> None:  # fmt: skip
    """Delete events older than the retention, by event time, a few thousand per
    transaction. Prints one JSON object per project: {"project": "acme/web", "before": MS,
    "deleted": N} (with --dry-run, "would_delete")."""
    if all_projects and (org is not None or project is not None):
        raise click.UsageError("--all-projects prunes every project: drop --org and --project")
    with opened_store(db, database_url) as (settings, store):
        days = older_than_days or settings.retention_days
        if not days:
            raise click.UsageError(
                "retention_days is 0 (keep every event): pass --older-than-days N or set "
                "HEADWATER_RETENTION_DAYS"
            )
        before = retention.cutoff(now_ms(), days)
        chosen = [i.project for i in store.list_projects()] if all_projects else [
            choose_project(store, org, project)
        ]  # fmt: skip
        for found in chosen:
            name = f"{found.org}/{found.slug}"
            if dry_run:
                found_count = retention.count(store, found.id, before)
                click.echo(json.dumps({"project": name, "before": before,
                                       "would_delete": found_count}))  # fmt: skip
                continue
            total = retention.count(store, found.id, before) if on_terminal() else None
            with _bar(total, f"Pruning {name}") as advance:
                pruned = retention.prune(store, found.id, before, progress=advance)
            click.echo(json.dumps({"project": name, "before": before, "deleted": pruned.deleted}))
