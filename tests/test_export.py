"""Events leave the store as files (issue 11, Deliver 5): NDJSON, CSV and Parquet round trips,
the events API's filters and time bounds, constant memory, and a streamed HTTP export."""

from __future__ import annotations

import csv
import io
import json
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click.testing
import httpx
import msgspec
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from headwater.api.export import ExportInterrupted, _guarded
from headwater.cli import main
from headwater.config import Settings
from headwater.events import export as exporting
from headwater.model.views import event_view
from headwater.store import open_store
from headwater.store.base import EventQuery, Store
from headwater.tenancy import provision
from tests.conftest import BACKENDS, Tenant, database
from tests.live_server import live_server
from tests.stored import DAY, NOW, many, opened, track

Client = TestClient[Any]
TRICKY = {
    "text": 'comma, "quote", newline\nand ünïcödé 😀',
    "nested": {"deep": [1, 2.5, None, True]},
    "empty": "",
}


def sample(store: Store) -> int:
    """A project with events of every shape: objects with CSV's special characters, nulls,
    accounts, several names and users, equal timestamps."""
    project, _ = store.ensure_project("acme", "web", NOW)
    track(store, project.id,
          {"eventId": "a1", "userId": "ada", "profileId": "p1", "timestamp": NOW - 5000,
           "data": TRICKY, "userAttributes": {"plan": "pro"}},
          {"eventId": "a2", "userId": "ada", "accountId": "acct", "timestamp": NOW - 4000,
           "accountAttributes": {"seats": 3}},
          name="Signed Up")  # fmt: skip
    track(store, project.id,
          {"eventId": "b1", "profileId": "p2", "timestamp": NOW - 4000},
          {"eventId": "b2", "userId": "bob", "timestamp": NOW - 3000, "data": {"amount": 7}},
          {"eventId": "b3", "userId": "bob", "timestamp": NOW - 3000},
          name="Purchase")  # fmt: skip
    return project.id


def api_objects(store: Store, query: EventQuery) -> list[dict[str, Any]]:
    """What GET …/events shows for `query`, as parsed JSON."""
    rows = store.query_events(query)
    return [json.loads(msgspec.json.encode(event_view(r))) for r in rows]


def exported(store: Store, query: EventQuery, fmt: str) -> bytes:
    return b"".join(exporting.export(store, query, fmt))


def from_csv(data: bytes) -> list[dict[str, Any]]:
    """CSV rows back to the events API's objects, by the documented encoding."""
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    objects = []
    for row in rows:
        back: dict[str, Any] = {}
        for name, cell in row.items():
            if cell == "":
                back[name] = None
            elif name in ("line", "timestamp", "receivedAt"):
                back[name] = int(cell)
            elif name in ("data", "userAttributes", "accountAttributes", "sessionAttributes",
                          "extra"):  # fmt: skip
                back[name] = json.loads(cell)
            else:
                back[name] = cell
        objects.append(back)
    return objects


def from_parquet(data: bytes) -> list[dict[str, Any]]:
    table = pq.read_table(io.BytesIO(data))
    assert [f.name for f in table.schema] == list(exporting.COLUMNS)
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"
    assert str(table.schema.field("line").type) == "int64"
    objects = []
    for row in table.to_pylist():
        for name in ("timestamp", "receivedAt"):
            row[name] = round(row[name].timestamp() * 1000)
        for name in ("data", "userAttributes", "accountAttributes", "sessionAttributes", "extra"):
            row[name] = None if row[name] is None else json.loads(row[name])
        objects.append(row)
    return objects


def parsed(data: bytes, fmt: str) -> list[dict[str, Any]]:
    if fmt == "ndjson":
        return [json.loads(line) for line in data.splitlines()]
    return from_csv(data) if fmt == "csv" else from_parquet(data)


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_every_format_round_trips(store: Store, fmt: str) -> None:
    """Each format reads back to exactly the events API's objects, in its order."""
    project_id = sample(store)
    query = EventQuery(project_id, limit=1000)
    assert parsed(exported(store, query, fmt), fmt) == api_objects(store, query)
    assert len(api_objects(store, query)) == 5


def test_csv_columns_and_object_encoding(store: Store) -> None:
    """The documented CSV: a header row, integers as digits, objects as their stored JSON
    text in one quoted cell, empty cells for null, RFC 4180 line ends."""
    project_id = sample(store)
    data = exported(store, EventQuery(project_id, event_id="a1"), "csv").decode()
    header, line, _ = data.split("\r\n", 2)
    assert header == ",".join(exporting.COLUMNS) and line.startswith("Signed Up,a1,,0,,p1,ada,,")
    [_, cells] = list(csv.reader(io.StringIO(data, newline="")))
    row = dict(zip(exporting.COLUMNS, cells, strict=True))
    assert json.loads(row["data"]) == TRICKY and row["accountId"] == "" and row["line"] == "0"
    assert row["timestamp"] == str(NOW - 5000) and row["userAttributes"] == '{"plan":"pro"}'
    assert data.endswith("\r\n")


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_filters_and_time_bounds(store: Store, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The filters of GET …/events, `from` inclusive and `to` exclusive, across page
    boundaries (pages of 2 here, so equal timestamps straddle them)."""
    monkeypatch.setattr(exporting, "PAGE", 2)
    project_id = sample(store)
    cases = {
        EventQuery(project_id): ["a1", "a2", "b1", "b2", "b3"],
        EventQuery(project_id, event_name="Purchase"): ["b1", "b2", "b3"],
        EventQuery(project_id, user_id="bob"): ["b2", "b3"],
        EventQuery(project_id, profile_id="p2"): ["b1"],
        EventQuery(project_id, account_id="acct"): ["a2"],
        EventQuery(project_id, since=NOW - 4000): ["a2", "b1", "b2", "b3"],
        EventQuery(project_id, until=NOW - 3000): ["a1", "a2", "b1"],
        EventQuery(project_id, since=NOW - 4000, until=NOW - 3000): ["a2", "b1"],
        EventQuery(project_id, event_name="Purchase", until=NOW - 3000): ["b1"],
        EventQuery(project_id, user_id="nobody"): [],
    }
    for query, ids in cases.items():
        assert [e["eventId"] for e in parsed(exported(store, query, fmt), fmt)] == ids, query


def test_another_projects_events_never_leave(store: Store) -> None:
    """Tenancy (invariant 6): an export reads its own project only."""
    project_id = sample(store)
    other, _ = store.ensure_project("globex", "app", NOW)
    track(store, other.id, {"eventId": "x1", "userId": "ada", "timestamp": NOW - 4000})
    ids = [e["eventId"] for e in parsed(exported(store, EventQuery(project_id), "ndjson"),
                                        "ndjson")]  # fmt: skip
    assert "x1" not in ids and len(ids) == 5


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_an_empty_export_is_a_valid_file(store: Store, fmt: str) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    assert parsed(exported(store, EventQuery(project.id), fmt), fmt) == []


def peak_bytes(store: Store, query: EventQuery, fmt: str) -> int:
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in exporting.export(store, query, fmt))
        assert size > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Constant memory: exporting ten times the events does not raise the peak of traced
    memory. 3,000 vs 30,000 events with pages and row groups scaled down by about the same
    factor (300 and 1,500) measure what 10,000 vs 100,000 would at the real sizes, in a
    fraction of the time; each export spans several pages and row groups."""
    monkeypatch.setattr(exporting, "PAGE", 300)
    monkeypatch.setattr(exporting, "ROW_GROUP", 1500)
    project, _ = store.ensure_project("acme", "big", NOW)
    many(store, project.id, 30_000, data='{"text":"' + "x" * 300 + '"}')
    small = EventQuery(project.id, until=NOW - DAY + 3000)
    for fmt in exporting.FORMATS:
        few, all_ = peak_bytes(store, small, fmt), peak_bytes(store, EventQuery(project.id), fmt)
        assert all_ < 1.5 * few, (fmt, few, all_)


# -- the HTTP API -------------------------------------------------------------------------


def get_export(client: Client, tenant: Tenant, **params: str) -> httpx.Response:
    response: httpx.Response = client.get(
        f"{tenant.base}/events/export", params=params, headers=tenant.headers
    )
    return response


def post_track(client: Client, tenant: Tenant, *items: dict[str, Any], name: str = "E") -> None:
    body = {"track": [{"name": name, "payload": list(items)}]}
    response = client.post(f"{tenant.base}/track", json=body, headers=tenant.headers)
    assert response.json()["accepted"] == len(items), response.text


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_api_exports_each_format(client: Client, tenant: Tenant, fmt: str) -> None:
    post_track(client, tenant, {"eventId": "e1", "userId": "ada", "data": TRICKY},
               {"eventId": "e2", "userId": "bob"}, name="Purchase")  # fmt: skip
    post_track(client, tenant, {"eventId": "e3", "userId": "ada"}, name="Other")
    listed = client.get(f"{tenant.base}/events", params={"userId": "ada"},
                        headers=tenant.headers).json()["events"]  # fmt: skip
    response = get_export(client, tenant, format=fmt, userId="ada")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(exporting.MEDIA_TYPES[fmt].split(";")[0])
    assert response.headers["content-disposition"] == f'attachment; filename="events.{fmt}"'
    assert parsed(response.content, fmt) == listed
    named = get_export(client, tenant, format=fmt, eventName="Purchase", userId="bob")
    assert [e["eventId"] for e in parsed(named.content, fmt)] == ["e2"]


def test_api_export_defaults_to_ndjson(client: Client, tenant: Tenant) -> None:
    post_track(client, tenant, {"eventId": "e1", "userId": "ada"})
    response = get_export(client, tenant)
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["eventId"] for line in response.text.splitlines()] == ["e1"]


def test_api_export_refuses_bad_parameters_before_sending(client: Client, tenant: Tenant) -> None:
    """400 with the field named, never a 5xx (the rules of GET …/events)."""
    cases = [
        ({"format": "xlsx"}, "format must be one of ndjson, csv, parquet", "format"),
        ({"from": "yesterday"}, None, "from"),
        ({"to": "9" * 30}, "to is out of range", "to"),
        ({"userId": "a\x00b"}, None, "userId"),
    ]
    for params, message, path in cases:
        response = get_export(client, tenant, **params)
        assert response.status_code == 400, (params, response.text)
        [error] = response.json()["errors"]
        assert error["path"] == path and (message is None or error["message"] == message)


def test_api_export_needs_the_read_scope(client: Client, store: Store, tenant: Tenant) -> None:
    ingest = Tenant(provision.create_key(store, "acme", "web", scopes=["ingest"]))
    assert get_export(client, ingest).status_code == 403
    assert get_export(client, tenant).status_code == 200
    other = Tenant(provision.create_key(store, "globex", "app"))
    response = client.get(f"{tenant.base}/events/export", headers=other.headers)
    assert response.status_code == 404  # another project's key: as if it did not exist


def test_parquet_without_pyarrow_is_a_clear_error(
    client: Client, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow is optional (headwater[parquet]): its absence is named, with the fix."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    response = get_export(client, tenant, format="parquet")
    assert response.status_code == 501
    assert response.json()["errors"][0]["message"] == (
        "Parquet export needs pyarrow, which is not installed: pip install 'headwater[parquet]'"
    )
    assert get_export(client, tenant, format="csv").status_code == 200


def test_a_failure_midway_is_never_a_quiet_end() -> None:
    """Litestar ends a sync stream silently on ValueError (msgspec's errors are ValueErrors):
    a failure after the first bytes must abort the response instead."""

    def failing() -> Iterator[bytes]:
        yield b"first\n"
        raise ValueError("the store went away")

    chunks = _guarded(failing())
    assert next(chunks) == b"first\n"
    with pytest.raises(ExportInterrupted, match="the store went away"):
        next(chunks)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_api_streams(backend: str, tmp_path: Path) -> None:
    """The first bytes leave before the last events are read: an event stored after the
    client received the first bytes (with the latest time, so it sorts last) is in the
    export. A server that built the file first could not include it. 20,000 events of 1 KB
    outgrow every buffer between the two."""
    with database(backend, tmp_path) as url:
        store = opened_url(url)
        try:
            made = provision.create_key(store, "acme", "web")
            project = store.find_project("acme", "web")
            assert project is not None
            many(store, project.id, 20_000, data='{"pad":"' + "x" * 1000 + '"}')
        finally:
            store.close()
        with live_server(tmp_path, database_url=url, api_key=made.api_key) as server:
            server.org, server.project = "acme", "web"
            with (
                server.client(timeout=60) as http,
                http.stream("GET", f"{server.project_url}/events/export") as response,
            ):
                assert response.status_code == 200
                chunks = response.iter_bytes()
                first = next(chunks)
                assert first.startswith(b'{"eventName":"E","eventId":"e0"')
                late = opened_url(url)
                try:
                    track(late, project.id, {"eventId": "late", "userId": "ada",
                                             "timestamp": NOW})  # fmt: skip
                finally:
                    late.close()
                body = first + b"".join(chunks)
    lines = body.splitlines()
    assert len(lines) == 20_001 and json.loads(lines[-1])["eventId"] == "late"


def opened_url(url: str) -> Store:
    store = open_store(Settings(database_url=url))
    store.migrate()
    return store


# -- the CLI ------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_export_to_files(backend: str, tmp_path: Path) -> None:
    with opened(backend, tmp_path) as (where, store):
        project_id = sample(store)
        expected = api_objects(store, EventQuery(project_id))
        for fmt in exporting.FORMATS:
            target = tmp_path / f"out.{fmt}"
            code, out = run("events", "export", *where, "-o", str(target))
            assert (code, out) == (0, f'{{"exported": 5, "format": "{fmt}", '
                                      f'"output": "{target}"}}\n')  # fmt: skip
            assert parsed(target.read_bytes(), fmt) == expected
            assert not list(tmp_path.glob(".*.partial"))
        code, out = run("events", "export", *where, "--format", "csv", "--event-name",
                        "Purchase", "--from", str(NOW - 4000), "--to",
                        "2024-05-02T06:38:21+00:00")  # fmt: skip
        assert code == 0 and [e["eventId"] for e in from_csv(out.encode())] == ["b1"]


def test_cli_export_to_standard_output(tmp_path: Path) -> None:
    with opened("sqlite", tmp_path) as (where, store):
        sample(store)
        code, out = run("events", "export", *where, "--user-id", "ada")
    assert code == 0
    assert [json.loads(line)["eventId"] for line in out.splitlines()] == ["a1", "a2"]


def test_cli_export_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with opened("sqlite", tmp_path) as (where, store):
        sample(store)
        code, out = run("events", "export", *where, "--from", "soon")
        assert code == 2 and "must be epoch milliseconds or an ISO-8601 date-time" in out
        code, out = run("events", "export", *where, "--user-id", "a\x00")
        assert code == 2 and "must not contain the NUL character" in out
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        target = tmp_path / "x.parquet"
        code, out = run("events", "export", *where, "-o", str(target))
        assert (code, out) == (1, "Error: Parquet export needs pyarrow, which is not installed: "
                                  "pip install 'headwater[parquet]'\n")  # fmt: skip
        assert not target.exists()


def test_cli_export_leaves_no_partial_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure midway removes what was written: a file under the name is always whole."""
    with opened("sqlite", tmp_path) as (where, store):
        sample(store)

        def broken(*_: Any) -> Iterator[bytes]:
            yield b"half"
            raise OSError("disk full")

        monkeypatch.setattr("headwater.commands.events.export", broken)
        target = tmp_path / "out.ndjson"
        assert run("events", "export", *where, "-o", str(target)) == (
            1, f"Error: cannot write {target}: disk full\n")  # fmt: skip
    assert not target.exists() and not list(tmp_path.glob(".*"))
    missing = tmp_path / "no" / "such" / "dir.csv"
    code, out = run("events", "export", *where, "-o", str(missing))
    assert (code, out) == (1, f"Error: cannot write {missing}: No such file or directory\n")


def test_cli_parquet_is_not_written_to_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with opened("sqlite", tmp_path) as (where, store):
        sample(store)
        # What CliRunner puts in place of standard output, made to look like a terminal.
        monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda _: True)
        code, out = run("events", "export", *where, "--format", "parquet")
    assert code == 2 and "Parquet is binary: write it to a file with --output FILE" in out
