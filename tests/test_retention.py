"""Retention (issue 11, Deliver 8): events older than N days by event time are deleted in
short transactions; profiles follow from the remaining events; identity links and consent
records are kept; `headwater events prune`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.consent.records import ConsentRecord
from headwater.events import retention
from headwater.identity.resolve import DEFAULT_CAPS
from headwater.model.event import EVENT_COLUMNS
from headwater.profiles import lookup
from headwater.store.base import EventQuery, Store
from headwater.store.postgres.store import PostgresStore
from tests import postgres
from tests.conftest import BACKENDS
from tests.stored import DAY, NOW, opened, track

EVENT_ID = EVENT_COLUMNS.index("event_id")
CUT = NOW - 30 * DAY


def stored_ids(store: Store, project_id: int) -> list[str]:
    return [row[EVENT_ID] for row in store.query_events(EventQuery(project_id, limit=1000))]


def test_prune_deletes_by_event_time_in_short_transactions(store: Store) -> None:
    """By event time, whatever the arrival order: an old event that arrived last goes, a
    recent one that arrived first stays. Chunks of 2, with a pause after each full one."""
    project, _ = store.ensure_project("acme", "web", NOW)
    track(store, project.id, {"eventId": "recent", "userId": "ada", "timestamp": NOW - DAY})
    track(store, project.id, *({"eventId": f"old{i}", "userId": "ada",
                                "timestamp": CUT - (i + 1) * DAY} for i in range(4)))  # fmt: skip
    track(store, project.id, {"eventId": "edge", "userId": "ada", "timestamp": CUT})
    track(store, project.id, {"eventId": "late-old", "userId": "bob", "timestamp": CUT - 1})
    other, _ = store.ensure_project("globex", "app", NOW)
    track(store, other.id, {"eventId": "theirs", "userId": "ada", "timestamp": CUT - DAY})

    assert retention.count(store, project.id, CUT) == 5
    pauses: list[float] = []
    deleted: list[int] = []
    pruned = retention.prune(store, project.id, CUT, chunk=2, progress=deleted.append,
                             sleep=pauses.append)  # fmt: skip
    assert pruned == retention.Pruned(CUT, 5) and deleted == [2, 2, 1]
    assert len(pauses) == 2 and all(p >= retention.PAUSE_S for p in pauses)
    assert stored_ids(store, project.id) == ["edge", "recent"]  # `before` is exclusive
    assert stored_ids(store, other.id) == ["theirs"]  # another project's events stay
    assert retention.prune(store, project.id, CUT).deleted == 0


def test_profiles_follow_the_remaining_events_links_and_consents_stay(store: Store) -> None:
    """What pruning does to a person (docs/operations.md): attributes, sessions, LTV and
    counts are those of the remaining events; identity links and consent records are kept,
    so the person keeps every identifier even after the events that linked them are gone."""
    project, _ = store.ensure_project("acme", "web", NOW)
    pid = project.id
    old = CUT - DAY
    track(store, pid, {"eventId": "o1", "userId": "ada", "profileId": "phone", "timestamp": old,
                       "userAttributes": {"plan": "free", "city": "Oslo"}})  # fmt: skip
    track(store, pid, {"eventId": "o2", "userId": "ada", "timestamp": old + 1,
                       "data": {"amount": 100, "status": "succeeded"}}, name="Charge")  # fmt: skip
    track(store, pid, {"eventId": "n1", "userId": "ada", "timestamp": NOW - DAY,
                       "userAttributes": {"plan": "pro"}})  # fmt: skip
    track(store, pid, {"eventId": "n2", "userId": "ada", "timestamp": NOW - DAY + 1,
                       "data": {"amount": 20, "status": "succeeded"}}, name="Charge")  # fmt: skip
    record = ConsentRecord("ada", None, None, "analytics", "accept", old, None, {})
    store.record_consent(pid, record, old, "k")
    before = lookup.profile(store, pid, DEFAULT_CAPS, user_id="ada")
    assert before["computed"]["ltv"] == 120 and before["attributes"]["city"] == "Oslo"

    assert retention.prune(store, pid, CUT).deleted == 2
    after = lookup.profile(store, pid, DEFAULT_CAPS, profile_id="phone")  # the link survived
    assert (after["userIds"], after["profileIds"]) == (["ada"], ["phone"])
    assert after["attributes"] == {"plan": "pro"}  # Oslo was only in a pruned event
    computed = after["computed"]
    assert (computed["ltv"], computed["event_count"], computed["first_seen"]) == (20, 2, NOW - DAY)
    assert computed["session_count"] == 1 and len(after["sessions"]) == 1
    assert after["consents"] == before["consents"] and after["consents"]


def test_a_person_with_no_event_left_is_found_through_links_only(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    track(store, project.id, {"eventId": "o1", "userId": "ada", "profileId": "p1",
                              "timestamp": CUT - DAY})  # fmt: skip
    track(store, project.id, {"eventId": "o2", "userId": "solo", "timestamp": CUT - DAY})
    retention.prune(store, project.id, CUT)
    found = lookup.profile(store, project.id, DEFAULT_CAPS, user_id="ada")
    assert found["computed"]["event_count"] == 0 and found["profileIds"] == ["p1"]
    with pytest.raises(Exception, match="no person has used the identifier 'solo'"):
        lookup.profile(store, project.id, DEFAULT_CAPS, user_id="solo")


def test_postgres_prune_waits_for_an_erasure() -> None:
    """PostgreSQL only (SQLite's one writer already serializes them): a prune takes the
    project's privacy lock shared, so it waits while an erasure holds it exclusive."""
    postgres.require()
    with postgres.fresh_schema() as url:
        store = PostgresStore(url, max_size=2)
        store.migrate()
        erasing = PostgresStore(url, max_size=1)  # another process, as an erasure's
        try:
            project, _ = store.ensure_project("acme", "web", NOW)
            track(store, project.id, {"eventId": "o", "userId": "ada", "timestamp": CUT - DAY})
            with erasing._transaction() as conn:
                erasing._lock_privacy(conn, [project.id], exclusive=True)  # its lock, held
                done: list[int] = []
                worker = threading.Thread(
                    target=lambda: done.append(retention.prune(store, project.id, CUT).deleted)
                )
                worker.start()
                worker.join(0.5)
                assert worker.is_alive() and done == []  # held back by the erasure
            worker.join(20)
            assert done == [1]
        finally:
            erasing.close()
            store.close()


# -- the command ---------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("headwater.commands.events.now_ms", lambda: NOW)


def seed(store: Store) -> None:
    web, _ = store.ensure_project("acme", "web", NOW)
    ios, _ = store.ensure_project("acme", "ios", NOW)
    track(store, web.id, *({"eventId": f"w{i}", "userId": "ada",
                            "timestamp": NOW - (40 + i) * DAY} for i in range(3)))  # fmt: skip
    track(store, web.id, {"eventId": "fresh", "userId": "ada", "timestamp": NOW - DAY})
    track(store, ios.id, {"eventId": "i0", "userId": "ada", "timestamp": NOW - 100 * DAY})


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_prune(backend: str, tmp_path: Path, frozen: None) -> None:
    cut = NOW - 30 * DAY
    with opened(backend, tmp_path) as (where, store):
        seed(store)
        web = ("--org", "acme", "--project", "web")
        assert run("events", "prune", *where, *web, "--older-than-days", "30", "--dry-run") == (
            0,
            f'{{"project": "acme/web", "before": {cut}, "would_delete": 3}}\n',
        )
        assert run("events", "prune", *where, *web, "--older-than-days", "30") == (
            0,
            f'{{"project": "acme/web", "before": {cut}, "deleted": 3}}\n',
        )
        assert run("events", "prune", *where, *web, "--older-than-days", "30") == (
            0,
            f'{{"project": "acme/web", "before": {cut}, "deleted": 0}}\n',
        )
        code, out = run("events", "prune", *where, "--all-projects",
                        env={"HEADWATER_RETENTION_DAYS": "50"})  # fmt: skip
        cut = NOW - 50 * DAY
        assert (code, out) == (
            0,
            f'{{"project": "acme/ios", "before": {cut}, "deleted": 1}}\n'
            f'{{"project": "acme/web", "before": {cut}, "deleted": 0}}\n',
        )
        web_id = store.find_project("acme", "web")
        assert web_id is not None and stored_ids(store, web_id.id) == ["fresh"]


def test_cli_prune_refuses_without_a_retention(tmp_path: Path, frozen: None) -> None:
    with opened("sqlite", tmp_path) as (where, store):
        seed(store)
        code, out = run("events", "prune", *where, "--org", "acme", "--project", "web")
        assert code == 2 and out.endswith(
            "Error: retention_days is 0 (keep every event): pass --older-than-days N or set "
            "HEADWATER_RETENTION_DAYS\n"
        )
        code, out = run("events", "prune", *where, "--all-projects", "--org", "acme",
                        "--older-than-days", "3")  # fmt: skip
        assert code == 2 and "--all-projects prunes every project: drop --org and --project" in out
        code, out = run("events", "prune", *where, "--older-than-days", "0")
        assert code == 2 and "0 is not in the range x>=1" in out
        code, out = run("events", "prune", *where, "--older-than-days", "3")
        assert (code, out) == (1, "Error: the store has 2 projects: acme/ios, acme/web; choose "
                                  "one with --org and --project (or HEADWATER_ORG and "
                                  "HEADWATER_PROJECT)\n")  # fmt: skip
        assert len(stored_ids(store, 1)) == 4  # nothing was deleted by any of these
