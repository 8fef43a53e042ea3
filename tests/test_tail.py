"""Following events as they commit (issue 11, Deliver 5): every event once, in seq order,
never stepping past one that commits late; `headwater events tail` on both stores."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.events.export import COLUMNS
from headwater.events.tail import Tail, start_seq
from headwater.model.event import EVENT_COLUMNS
from headwater.store.base import EventQuery, Store
from headwater.store.postgres.store import PostgresStore
from tests import postgres
from tests.conftest import BACKENDS
from tests.live_server import HEADWATER
from tests.stored import NOW, opened, track

EVENT_ID = EVENT_COLUMNS.index("event_id")


def ids(rows: list[tuple[Any, ...]]) -> list[str]:
    return [row[EVENT_ID] for row in rows]


def settled(tail: Tail, count: int, limit: int = 100) -> list[str]:
    """The ids of the next `count` events, polling until they came: on PostgreSQL any
    transaction of the server in flight (other test sessions' too) holds a tail back for a
    moment. Bounded: 20 s at most."""
    seen: list[str] = []
    for _ in range(400):
        seen += ids(tail.poll(limit))
        if len(seen) >= count:
            break
        time.sleep(0.05)
    return seen


def test_a_tail_sees_what_commits_after_it_starts(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    track(store, project.id, {"eventId": "old", "userId": "ada"})
    tail = Tail(store, EventQuery(project.id), start_seq(store, from_start=False))
    assert tail.poll(100) == []
    track(store, project.id, {"eventId": "n1", "userId": "ada"}, {"eventId": "n2", "userId": "b"})
    track(store, project.id, {"eventId": "n3", "userId": "ada", "timestamp": NOW - 99_000})
    assert settled(tail, 3) == ["n1", "n2", "n3"]  # arrival order, not event time
    assert tail.poll(100) == []


def test_from_start_pages_and_resumes(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    track(store, project.id, *({"eventId": f"e{i}", "userId": "ada"} for i in range(5)))
    tail = Tail(store, EventQuery(project.id), start_seq(store, from_start=True))
    assert settled(tail, 2, limit=2) == ["e0", "e1"]
    assert settled(tail, 2, limit=2) == ["e2", "e3"]
    seqs = {r[EVENT_ID]: r[-1] for r in store.events_after(EventQuery(project.id), 0, 2**62, 9)}
    resumed = Tail(store, EventQuery(project.id), seqs["e2"])  # after the last seq seen
    assert settled(resumed, 2) == ["e3", "e4"]


def test_filters_and_tenancy(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    other, _ = store.ensure_project("globex", "app", NOW)
    query = EventQuery(project.id, event_name="Purchase", user_id="ada")
    tail = Tail(store, query, 0)
    track(store, project.id, {"eventId": "p1", "userId": "ada"}, {"eventId": "p2", "userId": "b"},
          name="Purchase")  # fmt: skip
    track(store, project.id, {"eventId": "v1", "userId": "ada"}, name="View")
    track(store, other.id, {"eventId": "x1", "userId": "ada"}, name="Purchase")
    track(store, project.id, {"eventId": "last", "userId": "ada"}, name="Purchase")
    assert settled(tail, 2) == ["p1", "last"]


def test_a_filter_that_matches_rarely_reads_the_log_in_bounded_windows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read walks at most SCAN seqs, however far the next match is."""
    monkeypatch.setattr("headwater.events.tail.SCAN", 3)
    project, _ = store.ensure_project("acme", "web", NOW)
    track(store, project.id, *({"eventId": f"e{i}", "userId": "b"} for i in range(10)))
    track(store, project.id, {"eventId": "hit", "userId": "ada"})
    windows: list[tuple[int, int]] = []
    real = store.events_after

    def spy(query: EventQuery, after: int, up_to: int, limit: int) -> list[tuple[Any, ...]]:
        windows.append((after, up_to))
        return real(query, after, up_to, limit)

    monkeypatch.setattr(store, "events_after", spy)
    tail = Tail(store, EventQuery(project.id, user_id="ada"), 0)
    assert settled(tail, 1) == ["hit"]
    assert all(up_to - after <= 3 for after, up_to in windows) and len(windows) >= 4


def test_postgres_events_committed_out_of_seq_order_are_not_skipped() -> None:
    """PostgreSQL only: there concurrent transactions commit out of seq order (SQLite has one
    writer, so its commits follow seq). A transaction holding seq N still open while N+1
    commits: the tail waits, then shows N before N+1."""
    postgres.require()
    with postgres.fresh_schema() as url:
        store = PostgresStore(url, max_size=2)
        store.migrate()
        try:
            project, _ = store.ensure_project("acme", "web", NOW)
            tail = Tail(store, EventQuery(project.id), start_seq(store, from_start=False))
            with psycopg.connect(url) as slow:  # a transaction, open until committed below
                slow.execute(
                    "INSERT INTO events (project_id, event_name, event_id, line, timestamp, "
                    "received_at, key_prefix) VALUES (%s, 'E', 'slow', 0, %s, %s, 'k')",
                    (project.id, NOW, NOW),
                )
                track(store, project.id, {"eventId": "fast", "userId": "ada"})
                assert tail.poll(100) == [] and tail.poll(100) == []
                slow.commit()
            assert settled(tail, 2) == ["slow", "fast"]
        finally:
            store.close()


def test_postgres_a_transaction_left_open_stops_holding_the_tail_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past the patience, the tail reads on and says so (PostgreSQL only, as above)."""
    postgres.require()
    now = [0.0]
    with postgres.fresh_schema() as url:
        store = PostgresStore(url, max_size=2)
        store.migrate()
        try:
            project, _ = store.ensure_project("acme", "web", NOW)
            tail = Tail(store, EventQuery(project.id), 0, patience_ms=30_000,
                        clock=lambda: now[0])  # fmt: skip
            with psycopg.connect(url) as idle:
                idle.execute("CREATE TABLE held (x int)")  # takes a transaction id, stays open
                track(store, project.id, {"eventId": "e1", "userId": "ada"})
                assert tail.poll(100) == []
                now[0] = 31.0
                with caplog.at_level(logging.WARNING, "headwater.events"):
                    assert ids(tail.poll(100)) == ["e1"]
                assert "a database transaction has been open for 31 s" in caplog.text
                idle.rollback()
        finally:
            store.close()


def test_sqlite_reuses_the_seq_of_deleted_newest_events_and_the_tail_goes_back(
    tmp_path: Path,
) -> None:
    """SQLite hands out max(seq) + 1: once the newest event is deleted, the next one gets its
    seq again, and a tail already past it must not skip the newcomer."""
    with opened("sqlite", tmp_path) as (_, store):
        project, _ = store.ensure_project("acme", "web", NOW)
        track(store, project.id, {"eventId": "a", "userId": "ada"})
        track(store, project.id, {"eventId": "old", "userId": "ada", "timestamp": NOW - 86_400_000})
        tail = Tail(store, EventQuery(project.id), 0)
        assert ids(tail.poll(100)) == ["a", "old"]  # SQLite: every commit settles at once
        assert store.prune_events(project.id, NOW - 1000, 100) == 1  # the newest seq goes
        assert tail.poll(100) == []
        track(store, project.id, {"eventId": "new", "userId": "ada"})
        assert ids(tail.poll(100)) == ["new"]


# -- the command ---------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_tail_prints_events_with_their_seq(backend: str, tmp_path: Path) -> None:
    with opened(backend, tmp_path) as (where, store):
        project, _ = store.ensure_project("acme", "web", NOW)
        track(store, project.id, *({"eventId": f"e{i}", "userId": "ada"} for i in range(3)))
        track(store, project.id, {"eventId": "b", "userId": "bob"}, name="Other")
        code, out = run("events", "tail", *where, "--from-start", "--limit", "2")
        assert code == 0
        printed = lines(out)
        assert [e["eventId"] for e in printed] == ["e0", "e1"]
        assert list(printed[0]) == [*COLUMNS, "seq"]  # the events API's object, and seq
        code, out = run("events", "tail", *where, "--after-seq", str(printed[-1]["seq"]),
                        "--limit", "2")  # fmt: skip
        assert [e["eventId"] for e in lines(out)] == ["e2", "b"]
        code, out = run("events", "tail", *where, "--from-start", "--user-id", "bob",
                        "--limit", "1")  # fmt: skip
        assert [(e["eventId"], e["eventName"]) for e in lines(out)] == [("b", "Other")]


def test_cli_tail_refuses_conflicting_starts(tmp_path: Path) -> None:
    with opened("sqlite", tmp_path) as (where, store):
        store.ensure_project("acme", "web", NOW)
        code, out = run("events", "tail", *where, "--from-start", "--after-seq", "3")
        assert code == 2 and "give --from-start or --after-seq, not both" in out
        code, out = run("events", "tail", *where, "--after-seq", str(2**63))
        assert code == 2 and "is not in the range" in out


def test_cli_tail_stops_cleanly_on_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while waiting: what was printed stays, exit status 0, no traceback."""
    with opened("sqlite", tmp_path) as (where, store):
        project, _ = store.ensure_project("acme", "web", NOW)
        track(store, project.id, {"eventId": "e0", "userId": "ada"})

        def interrupted(_: float) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr("headwater.commands.events.time.sleep", interrupted)
        result = CliRunner().invoke(main, ["events", "tail", *where, "--from-start"])
    assert result.exit_code == 0 and result.exception is None
    assert [e["eventId"] for e in lines(result.output)] == ["e0"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_real_tail_follows_commits_and_stops_on_sigint(backend: str, tmp_path: Path) -> None:
    """The installed command, as a person runs it: lines appear as events commit (each
    flushed at once), and SIGINT ends it with status 0 and nothing on stderr."""
    with opened(backend, tmp_path) as (where, store):
        project, _ = store.ensure_project("acme", "web", NOW)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        process = subprocess.Popen(
            [str(HEADWATER), "events", "tail", *where, "--from-start", "--interval", "0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert process.stdout is not None and process.stderr is not None
            seen: list[str] = []
            deadline = time.monotonic() + 30
            for i in range(3):
                track(store, project.id, {"eventId": f"e{i}", "userId": "ada"})
                while len(seen) <= i and time.monotonic() < deadline:
                    ready, _, _ = select.select([process.stdout], [], [], 0.5)
                    if ready:
                        seen.append(json.loads(process.stdout.readline())["eventId"])
            assert seen == ["e0", "e1", "e2"]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
            assert process.stderr.read() == b""
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
