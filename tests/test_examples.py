"""The README's and the docs' examples work as written (issue 11, Deliver 7).

- The README's shell and Python examples run verbatim against a live server on SQLite (only
  the install and `serve` lines are left out: the test starts the server itself, the same
  way), with the key the server printed and the port it listens on put in their places.
- Every `headwater …` command in a shell example of the docs parses against the real CLI
  (commands, options, choices), and every `curl` example names a route that exists with
  the method it uses.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import click
import httpx
import pytest

from headwater.api import track
from headwater.api.app import routes_of
from headwater.cli import main
from headwater.config import Settings
from tests.live_server import LiveServer, live_server

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER_KEY = "prefix.secret"
README_PORT = "127.0.0.1:8080"
# The README lines the test does itself: installing, and starting the server.
NOT_RUN = re.compile(r"pip install|headwater serve")


def blocks(path: Path, *languages: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang in languages]


def shell_lines(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and prompts removed."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = []
    for line in joined.splitlines():
        line = line.strip()
        line = line.removeprefix("$ ")
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


# -- the README, run ---------------------------------------------------------------------


def _shell(server: LiveServer, block: str) -> str:
    """A README shell block as a script for `server`: its key and port in their places."""
    lines = [
        "set -euo pipefail",
        f"KEY={server.api_key}",  # as the reader set it in the first block
        # HTTP errors fail the script, as a person reading the output would notice them.
        'curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }',
    ]
    for line in block.splitlines():
        if not NOT_RUN.search(line):
            line = line.replace(f"KEY={PLACEHOLDER_KEY}", f"KEY={server.api_key}")
            lines.append(line.replace(README_PORT, f"127.0.0.1:{server.port}"))
    return "\n".join(lines)


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    """Every shell and Python block of the README, in order, in a folder holding the
    README's `.venv` and `examples/`, against a server on that folder's ./headwater.db."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    with live_server(tmp_path) as server:
        for lang, block in FENCE.findall((ROOT / "README.md").read_text()):
            if lang == "python":
                code = block.replace(f'"{PLACEHOLDER_KEY}"', repr(server.api_key))
                code = code.replace(README_PORT, f"127.0.0.1:{server.port}")
                exec(compile(code, "README.md", "exec"), {})
            elif lang == "sh":
                done = subprocess.run(
                    ["bash", "-c", _shell(server, block)],
                    cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                assert done.returncode == 0, (
                    f"{block}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
                )
        # The README ends by erasing Ada (suppressed): her profile is gone.
        with server.client() as http:
            ada = {"userId": "ada@example.com"}
            gone = http.get(f"{server.project_url}/profiles/lookup", params=ada)
        assert gone.status_code == 404, gone.text
    assert b'"ada@example.com"' in (tmp_path / "ada.json").read_bytes()
    header, *rows = (tmp_path / "events.csv").read_text().splitlines()
    assert "eventId" in header and len(rows) >= 7  # the README's events and the sample's


def test_readme_sample_data_is_what_the_readme_says(tmp_path: Path) -> None:
    """examples/events.json: anonymous browsing, sign-up, one order of two lines, a charge."""
    with live_server(tmp_path) as server, server.client() as http:
        sent = http.post(
            f"{server.project_url}/track",
            content=(ROOT / "examples" / "events.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert sent.status_code == 201 and sent.json()["rejected"] == [], sent.text
        profile = http.get(
            f"{server.project_url}/profiles/lookup", params={"userId": "ada@example.com"}
        ).json()
    assert profile["profileIds"] == ["device-7f3a"]
    assert profile["attributes"]["plan"] == "pro"
    assert profile["computed"]["orders"] == 1
    assert profile["computed"]["ltv"] == 178.0
    assert profile["computed"]["event_count"] == 6


# -- the docs, checked ---------------------------------------------------------------------


def _headwater_args(line: str) -> list[str] | None:
    """The arguments of the `headwater` command in a shell line, or None when it runs none."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    for at, word in enumerate(words):
        if word != "headwater" and not word.endswith("/bin/headwater"):
            continue
        if at and words[at - 1].startswith("-"):  # a value: `sudo -u headwater`, `journalctl -u`
            continue
        rest = words[at + 1 :]
        if rest and re.fullmatch(r"-.*|[a-z][a-z-]*", rest[0]):  # a command or an option
            for stop, arg in enumerate(rest):
                if arg in ("|", "&&", ";", "||") or arg.startswith((">", "<", "2>")):
                    return rest[:stop]
            return rest
    return None


def _parse(args: list[str]) -> None:
    """Parse `args` as the CLI would, down to the command, without running it."""
    command: click.Command = main
    ctx = command.make_context("headwater", list(args))
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args, 9 drops it
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*ctx.protected_args, *ctx.args]
        if not rest:
            return
        name, found, remaining = command.resolve_command(ctx, rest)
        assert found is not None and name is not None
        command = found
        ctx = command.make_context(name, remaining, parent=ctx)


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for lang, body in FENCE.findall(path.read_text()):
            for line in shell_lines(body):
                # Plain blocks hold synopses ("[--db PATH | …]") and, after "$ ", examples.
                if lang == "sh" or body.count(f"$ {line}"):
                    found.append((path.name, line))
    return found


COMMANDS = [(doc, line) for doc, line in _examples() if _headwater_args(line) is not None]


@pytest.mark.parametrize(("doc", "line"), COMMANDS)
def test_every_command_example_parses(doc: str, line: str) -> None:
    args = _headwater_args(line)
    assert args is not None
    try:
        _parse(args)
    except click.exceptions.Exit:  # --help, --version
        pass
    except click.ClickException as exc:
        pytest.fail(f"{doc}: `{line}` does not parse: {exc.format_message()}")


@functools.cache
def _routes() -> list[tuple[str, re.Pattern[str]]]:
    app = routes_of(Settings(db=":memory:"))
    found = [("POST", _pattern(path)) for path in track.ROUTES]
    for route in app.routes:
        for method in getattr(route, "methods", ()):
            found.append((method, _pattern(route.path)))
    return found


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template)) + "/?")


def _curl_request(line: str) -> tuple[str, str] | None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    if "curl" not in words:
        return None
    url = next((w for w in words if "://" in w), None)
    if url is None:
        return None
    method = "GET"
    for at, word in enumerate(words):
        if word in ("-X", "--request"):
            method = words[at + 1]
        elif word in ("-d", "--data", "--data-binary", "-F", "-T") and method == "GET":
            method = "POST"
    return method, httpx.URL(url).path


CURLS = [(doc, line) for doc, line in _examples() if _curl_request(line) is not None]


@pytest.mark.parametrize(("doc", "line"), CURLS)
def test_every_curl_example_names_a_route(doc: str, line: str) -> None:
    request = _curl_request(line)
    assert request is not None
    method, path = request
    routes = _routes()
    assert any(m == method and p.fullmatch(path) for m, p in routes), (
        f"{doc}: `{line}` requests {method} {path}, which no route serves"
    )
