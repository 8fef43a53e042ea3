"""The CLI, by exact output and exit code (issue 2 §2, §6)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from click.testing import CliRunner

from headwater.cli import main
from headwater.config import Settings
from headwater.ingest.normalize import parse_body
from headwater.model.event import Context
from headwater.store.migrations import migrations
from headwater.store.sqlite.store import SQLiteStore
from tests import postgres

ALL_APPLIED = f"applied migrations: {', '.join(str(v) for v, _ in migrations('sqlite'))}\n"


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


def test_keys_create_json(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    code, out = run("keys", "create", "--db", db, "--org", "acme", "--project", "web", "--json")
    assert code == 0, out
    made = json.loads(out)
    assert set(made) == {"api_key", "org", "project", "source_id", "scopes"}
    assert (made["org"], made["project"]) == ("acme", "web")
    assert made["api_key"].count(".") == 1 and len(made["source_id"]) == 19
    code, out = run(
        "keys",
        "create",
        "--db",
        db,
        "--org",
        "acme",
        "--project",
        "web",
        "--source",
        "ios",
        "--scope",
        "ingest",
        "--json",
    )
    second = json.loads(out)
    assert second["scopes"] == ["ingest"] and second["source_id"] != made["source_id"]


def test_keys_create_refuses_bad_input(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    code, out = run("keys", "create", "--db", db, "--org", "a b", "--project", "web")
    assert code == 1 and "org must be 1-64 letters" in out
    code, out = run("keys", "create", "--db", db, "--org", "a", "--project", "w", "--scope", "x")
    assert code == 2 and "'x' is not one of 'ingest', 'read', 'admin'" in out


def test_migrate(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    assert run("migrate", "--db", db) == (0, ALL_APPLIED)
    assert run("migrate", "--db", db) == (0, "up to date\n")


def test_migrate_on_postgres() -> None:
    postgres.require()
    with postgres.fresh_schema() as url:
        assert run("migrate", "--database-url", url) == (0, ALL_APPLIED)
        assert run("migrate", "--database-url", url) == (0, "up to date\n")
        code, out = run(
            "keys", "create", "--database-url", url, "--org", "a", "--project", "b", "--json"
        )
        assert code == 0 and json.loads(out)["org"] == "a"


def test_unsupported_database_urls_are_refused() -> None:
    code, out = run("migrate", "--database-url", "mysql://localhost/test")
    assert code == 2 and "expected postgresql://… or sqlite:///PATH" in out


def test_unreachable_postgres_is_a_clear_error() -> None:
    url = "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=1"
    code, out = run("migrate", "--database-url", url)
    assert code == 1 and "PostgreSQL unavailable (connect)" in out


def test_quarantine_list_and_replay(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    code, out = run("keys", "create", "--db", db, "--org", "acme", "--project", "web", "--json")
    store = SQLiteStore(db)
    project = store.find_project("acme", "web")
    assert project is not None
    body = msgspec.json.encode({"track": [{"name": "E", "payload": [{"userId": 1}]}]})
    ctx = Context(project.id, None, "key", 1_714_631_904_000)
    store.write([parse_body(body, ctx, Settings())])
    store.close()

    code, out = run("quarantine", "list", "--db", db, "--org", "acme", "--project", "web")
    assert code == 0
    [entry] = [json.loads(line) for line in out.splitlines()]
    assert entry["path"] == "track[0].payload[0].userId"

    code, out = run("quarantine", "replay", "--db", db, "--org", "acme", "--project", "web")
    assert code == 1 and json.loads(out)["failed"][0]["id"] == entry["id"]

    code, out = run(
        "quarantine",
        "replay",
        "--db",
        db,
        "--org",
        "acme",
        "--project",
        "web",
        "--id",
        str(entry["id"]),
        "--item",
        "-",
        input='{"userId": "1"}',
    )
    assert code == 0, out
    assert json.loads(out) == {
        "replayed": 1,
        "accepted": 1,
        "duplicates": 0,
        "failed": [],
        "refused": [],
    }

    code, out = run("quarantine", "list", "--db", db, "--org", "acme", "--project", "nope")
    assert code == 1 and "project acme/nope not found" in out


def test_keys_list_and_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    made = json.loads(run("keys", "create", "--db", db, "--org", "a", "--project", "b",
                          "--scope", "ingest", "--json")[1])  # fmt: skip
    prefix = made["api_key"].split(".")[0]
    code, out = run("keys", "list", "--db", db, "--org", "a", "--project", "b")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert (listed["prefix"], listed["scopes"], listed["revoked_at"]) == (prefix, ["ingest"], None)
    assert made["api_key"].split(".")[1] not in out  # secrets are never shown again
    assert run("keys", "revoke", "--db", db, made["api_key"]) == (0, f"revoked {prefix}\n")
    code, out = run("keys", "revoke", "--db", db, prefix)
    assert code == 1 and "no active key" in out
    code, out = run("keys", "list", "--db", db, "--org", "a", "--project", "b")
    assert json.loads(out)["revoked_at"] is not None


def test_quarantine_list_pages_with_after(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("keys", "create", "--db", db, "--org", "acme", "--project", "web")
    store = SQLiteStore(db)
    project = store.find_project("acme", "web")
    assert project is not None
    body = msgspec.json.encode({"track": [{"name": "E", "payload": [{"userId": 1}] * 3}]})
    store.write([parse_body(body, Context(project.id, None, "k", 1_714_631_904_000), Settings())])
    store.close()
    base = ("quarantine", "list", "--db", db, "--org", "acme", "--project", "web", "--limit", "2")
    first = [json.loads(line)["id"] for line in run(*base)[1].splitlines()]
    rest = [
        json.loads(line)["id"] for line in run(*base, "--after", str(first[-1]))[1].splitlines()
    ]
    assert len(first) == 2 and len(rest) == 1 and rest[0] > first[-1]


def test_profile_show(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("keys", "create", "--db", db, "--org", "acme", "--project", "web")
    store = SQLiteStore(db)
    project = store.find_project("acme", "web")
    assert project is not None
    item = {"eventId": "i1", "profileId": "p1", "userId": "ada", "userAttributes": {"a": 1}}
    body = msgspec.json.encode({"track": [{"name": "Identify", "payload": [item]}]})
    store.write([parse_body(body, Context(project.id, None, "k", 1_714_631_904_000), Settings())])
    store.close()
    base = ("profile", "show", "--db", db, "--org", "acme", "--project", "web")
    code, out = run(*base, "--profile-id", "p1")
    assert code == 0, out
    person = json.loads(out)
    assert (person["userIds"], person["attributes"]) == (["ada"], {"a": 1})
    code, out = run(*base, "--user-id", "nobody")
    assert code == 1 and "no person has used the identifier 'nobody'" in out
    assert run(*base)[0] == 2


def test_profile_split(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("keys", "create", "--db", db, "--org", "acme", "--project", "web")
    store = SQLiteStore(db)
    project = store.find_project("acme", "web")
    assert project is not None
    items = [{"eventId": "a", "userId": "new", "anotherUserId": "old"}]
    body = msgspec.json.encode({"track": [{"name": "Identify", "payload": items}]})
    store.write([parse_body(body, Context(project.id, None, "k", 1_714_631_904_000), Settings())])
    store.close()
    base = ("profile", "split", "--db", db, "--org", "acme", "--project", "web")
    code, out = run(*base, "--user-id", "old")
    assert code == 0, out
    code, out = run("profile", "show", "--db", db, "--org", "acme", "--project", "web",
                    "--user-id", "new")  # fmt: skip
    assert json.loads(out)["userIds"] == ["new"]
    code, out = run(*base, "--user-id", "new")
    assert code == 1 and "cannot be split off" in out


def test_attributes_set_and_list(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("keys", "create", "--db", db, "--org", "acme", "--project", "web")
    base = ("--db", db, "--org", "acme", "--project", "web")
    assert run("attributes", "set", *base, "plan", "first") == (0, "plan: first\n")
    assert run("attributes", "list", *base) == (0, "plan: first\n")
    assert run("attributes", "set", *base, "plan", "median")[0] == 2
