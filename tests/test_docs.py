"""Docs are part of the feature: every setting, command and route is documented."""

from __future__ import annotations

from pathlib import Path

import click

from headwater.api import track
from headwater.api.app import routes_of
from headwater.cli import main
from headwater.config import Settings, describe

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    for name, env, _, _ in describe():
        assert f"`{name}`" in text and f"`{env}`" in text, name


def _commands(group: click.Group, prefix: str = "headwater") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in _commands(main):
        assert f"`{command}" in text, command


def test_every_route_is_documented(tmp_path: Path) -> None:
    text = (DOCS / "api.md").read_text()
    paths = [r.path for r in routes_of(Settings(db=str(tmp_path / "h.db"))).routes]
    for path in [*paths, *track.ROUTES]:
        path = path.replace("{org:str}", "{org}").replace("{project:str}", "{project}")
        path = (
            path.replace("{event_id:str}", "{eventId}")
            .replace("{person_id:str}", "{id}")
            .replace("{name:str}", "{name}")
            .replace("{account_id:str}", "{accountId}")
            .replace("{product_id:str}", "{productId}")
        )
        assert path in text, path
