"""What every command shares: settings from flags, the store it opens, the project it acts on.

Only `serve`, `migrate` and `keys create` may create a store; every other command opens one
that exists, or says which file or URL it looked at. The project comes from `--org` and
`--project`, else `HEADWATER_ORG` / `HEADWATER_PROJECT`, else it is the store's only project
(or the only one matching the half given); otherwise the command lists the projects.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from headwater.config import Settings
from headwater.errors import HeadwaterError
from headwater.model import rules
from headwater.store import open_store
from headwater.store.base import Project, Store

SHOWN_PROJECTS = 20  # projects an error message lists


def settings_of(**overrides: Any) -> Settings:
    try:
        settings = Settings.from_env(overrides)
        settings.store  # noqa: B018 - refuses an unsupported database URL up front
        return settings
    except HeadwaterError as exc:
        raise click.UsageError(exc.message) from None


def database_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--database-url",
        help="Database URL: postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME (PostgreSQL) or "
        "sqlite:///PATH. Env: HEADWATER_DATABASE_URL.",
    )(command)
    return click.option(
        "--db", "db", help="SQLite database file [default: ./headwater.db]. Env: HEADWATER_DB."
    )(command)


def open_at(settings: Settings, create: bool = False) -> Store:
    """The store the settings name, migrated; unless `create`, only one that exists."""
    backend, location = settings.store
    if not create and backend == "sqlite" and not os.path.exists(location):
        raise click.ClickException(_no_store(settings, "the file does not exist"))
    try:
        store = open_store(settings)
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    try:
        if not create and not store.has_schema():
            raise click.ClickException(_no_store(settings, "it holds no Headwater tables"))
        store.migrate()
    except HeadwaterError as exc:
        store.close()
        raise click.ClickException(exc.message) from None
    except BaseException:
        store.close()
        raise
    return store


def _no_store(settings: Settings, why: str) -> str:
    return (
        f"no Headwater store at {settings.store_label} ({why}); create one with `headwater "
        "migrate` or `headwater serve`, or choose another with --db or --database-url"
    )


@dataclasses.dataclass(frozen=True)
class Opened:
    """What a command runs with: the settings, the open store and (maybe) its project."""

    settings: Settings
    store: Store
    project: Project


@contextmanager
def opened(
    db: str | None,
    database_url: str | None,
    org: str | None,
    project: str | None,
    create: bool = False,
) -> Iterator[Opened]:
    """The store (closed afterwards) and the project chosen; errors become CLI errors."""
    settings = settings_of(db=db, database_url=database_url)
    store = open_at(settings, create)
    try:
        yield Opened(settings, store, choose_project(store, org, project))
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


@contextmanager
def opened_store(db: str | None, database_url: str | None) -> Iterator[tuple[Settings, Store]]:
    """The settings and an existing store, for commands about no one project."""
    settings = settings_of(db=db, database_url=database_url)
    store = open_at(settings)
    try:
        yield settings, store
    except HeadwaterError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


def choose_project(store: Store, org: str | None, project: str | None) -> Project:
    """The project named, or the only one matching what was named (nothing: every project)."""
    if org is not None and project is not None:
        found = store.find_project(org, project)
        if found is not None:
            return found
    every = [info.project for info in store.list_projects()]
    matching = [
        p for p in every if org in (None, p.org) and project in (None, p.slug)
    ]  # fmt: skip
    if len(matching) == 1:
        return matching[0]
    if not every:
        raise click.ClickException(
            "the store has no project yet: create one with "
            "`headwater keys create --org ORG --project PROJECT`"
        )
    if not matching:
        wanted = f"project {org or '*'}/{project or '*'}"
        raise click.ClickException(f"{wanted} not found; the store's projects: {_names(every)}")
    if org is None and project is None:
        hint = "--org and --project (or HEADWATER_ORG and HEADWATER_PROJECT)"
        raise click.ClickException(
            f"the store has {len(matching)} projects: {_names(matching)}; choose one with {hint}"
        )
    hint = "--project (or HEADWATER_PROJECT)" if project is None else "--org (or HEADWATER_ORG)"
    raise click.ClickException(
        f"there are {len(matching)} projects{_where(org, project)}: {_names(matching)}; "
        f"choose one with {hint}"
    )


def _where(org: str | None, project: str | None) -> str:
    if org is not None:
        return f" in org {org}"
    return f" named {project}" if project is not None else ""


def _names(projects: list[Project]) -> str:
    names = ", ".join(f"{p.org}/{p.slug}" for p in projects[:SHOWN_PROJECTS])
    more = len(projects) - SHOWN_PROJECTS
    return f"{names} and {more} more" if more > 0 else names


def project_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--project",
        envvar="HEADWATER_PROJECT",
        help="Project slug. Env: HEADWATER_PROJECT [default: the only project (of the org)].",
    )(command)
    return click.option(
        "--org",
        envvar="HEADWATER_ORG",
        help="Organization slug. Env: HEADWATER_ORG [default: the only project's].",
    )(command)


def project_command(command: Callable[..., None]) -> Callable[..., None]:
    """The command with the store and project options, run with them opened: it gets an
    `Opened` as its first argument, then its own options."""

    @functools.wraps(command)
    def run(**options: Any) -> None:
        where = [options.pop(name) for name in ("db", "database_url", "org", "project")]
        with opened(*where) as ctx:
            command(ctx, **options)

    wrapped: Callable[..., None] = database_options(project_options(run))
    return wrapped


def stored_text(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    """A click callback refusing what no stored identifier or name holds: NUL (which
    PostgreSQL cannot even compare), or a blank string."""
    if value is not None:
        try:
            rules.check_string("value", value, sys.maxsize, required=True)
        except rules.Invalid as bad:
            raise click.BadParameter(bad.message) from None
    return value


class Timestamp(click.ParamType):  # type: ignore[type-arg]
    """Epoch milliseconds or ISO-8601, as the API's `from` and `to`."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            ms = rules.parse_timestamp(str(value), 64)
        except rules.Invalid as bad:
            self.fail(bad.message, param, ctx)
        if not -(2**63) <= ms < 2**63:
            self.fail("is out of range", param, ctx)
        return ms


def on_terminal() -> bool:
    """Whether standard error is a terminal (progress is shown only there)."""
    return sys.stderr.isatty()
