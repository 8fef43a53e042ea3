"""The CLI, by exact output and exit code (issue 2 §2, §6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.config import Settings
from headwater.ingest.normalize import parse_body
from headwater.model.event import Context
from headwater.store.migrations import migrations
from headwater.store.sqlite.store import SQLiteStore
from headwater.tenancy import provision
from tests import postgres
from tests.test_docs import _commands

ALL_APPLIED = f"applied migrations: {', '.join(str(v) for v, _ in migrations('sqlite'))}\n"


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


def test_keys_create_json(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    code, out = run("keys", "create", "--db", db, "--org", "acme", "--project", "web", "--json")
    assert code == 0, out
    made = json.loads(out)
    assert set(made) == {"api_key", "org", "project", "source_id", "scopes", "created_org",
                         "created_project"}  # fmt: skip
    assert (made["created_org"], made["created_project"]) == (True, True)
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
    assert (second["created_org"], second["created_project"]) == (False, False)


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
        "products": {"created": 0, "updated": 0, "unchanged": 0},
        "failed": [],
        "refused": [],
    }

    code, out = run("quarantine", "list", "--db", db, "--org", "acme", "--project", "nope")
    assert (code, out) == (1, "Error: project acme/nope not found; the store's projects: "
                              "acme/web\n")  # fmt: skip


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


# -- a CLI that knows its project (issue 11, Deliver 6) -------------------------------------

CREATORS = {"headwater serve", "headwater migrate", "headwater keys create"}
# Arguments a command needs before it gets as far as opening the store.
ARGUMENTS = {
    "headwater keys revoke": ["abc"],
    "headwater attributes set": ["plan", "first"],
    "headwater catalog import": ["feed.json"],
    "headwater quarantine dismiss": ["--status", "all"],
    "headwater privacy erase": ["--user-id", "u", "--yes"],
    "headwater privacy export": ["--user-id", "u"],
    "headwater profile show": ["--user-id", "u"],
    "headwater profile split": ["--user-id", "u"],
    "headwater events prune": ["--older-than-days", "3"],
}
NO_STORE = (
    "create one with `headwater migrate` or `headwater serve`, or choose another with --db or "
    "--database-url\n"
)


@pytest.mark.parametrize("command", sorted(set(_commands(main)) - CREATORS))
def test_reading_commands_never_create_a_store(command: str, tmp_path: Path) -> None:
    """Only serve, migrate and keys create may create a store; every other command says
    which file it opened, and leaves no file behind."""
    db = tmp_path / "missing.db"
    args = [*command.split()[1:], "--db", str(db), *ARGUMENTS.get(command, [])]
    assert run(*args) == (
        1,
        f"Error: no Headwater store at {db} (the file does not exist); {NO_STORE}",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_postgres_database_without_the_schema_is_no_store() -> None:
    """The URL is named without its password, in either place libpq takes one."""
    postgres.require()
    with postgres.fresh_schema() as url:
        secret = url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
        code, out = run("keys", "list", "--database-url", secret)
        assert code == 1 and "s3cret" not in out
        shown = secret.replace(":s3cret@", ":***@")
        assert (
            out
            == f"Error: no Headwater store at {shown} (it holds no Headwater tables); {NO_STORE}"
        )
        code, out = run("projects", "list", "--database-url", f"{url}&password=s3cret")
        assert code == 1 and "s3cret" not in out and "&password=***" in out
        assert run("migrate", "--database-url", url) == (0, ALL_APPLIED)
        assert run("projects", "list", "--database-url", url) == (0, "")


def test_keys_create_says_what_it_created(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    firsts = []
    for project in ("web", "ios", "ios"):
        code, out = run("keys", "create", "--db", db, "--org", "acme", "--project", project)
        assert code == 0, out
        first, key, name, source, scopes = out.splitlines()
        assert key.startswith("API key:   ") and name == f"Project:   acme/{project}"
        assert source.startswith("Source id: ") and scopes == "Scopes:    ingest, read, admin"
        firsts.append(first)
    assert firsts == [
        "Created organization acme and project acme/web.",
        "Created project acme/ios in existing organization acme.",
        "Using existing project acme/ios.",
    ]
    code, out = run("keys", "create", "--db", db, "--project", "web", "--json")
    assert code == 0 and json.loads(out)["org"] == "acme"  # the only project named web


def test_keys_create_without_a_project_needs_one_to_exist(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    code, out = run("keys", "create", "--db", str(db))
    assert code == 1 and "no Headwater store at" in out and not db.exists()
    run("migrate", "--db", str(db))
    assert run("keys", "create", "--db", str(db)) == (
        1, "Error: the store has no project yet: create one with "
           "`headwater keys create --org ORG --project PROJECT`\n")  # fmt: skip


def test_the_project_defaults_to_the_only_one(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("keys", "create", "--db", db, "--org", "acme", "--project", "web", "--scope", "read")
    code, out = run("keys", "list", "--db", db)
    assert code == 0 and json.loads(out)["scopes"] == ["read"]


def test_the_project_comes_from_the_environment_or_a_partial_name(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    for org, project, scope in (("acme", "web", "read"), ("acme", "ios", "ingest"),
                                ("globex", "web", "admin")):  # fmt: skip
        run("keys", "create", "--db", db, "--org", org, "--project", project, "--scope", scope)

    def scopes(*args: str, env: dict[str, str] | None = None) -> Any:
        result = CliRunner().invoke(main, ["keys", "list", "--db", db, *args], env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["scopes"]

    assert scopes(env={"HEADWATER_ORG": "acme", "HEADWATER_PROJECT": "ios"}) == ["ingest"]
    assert scopes("--org", "globex") == ["admin"]  # globex's only project
    assert scopes("--project", "ios") == ["ingest"]  # the only project named ios
    # A flag beats the environment.
    assert scopes("--project", "web", env={"HEADWATER_ORG": "globex",
                                           "HEADWATER_PROJECT": "ios"}) == ["admin"]  # fmt: skip


def test_an_ambiguous_or_unknown_project_lists_the_choices(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    for org, project in (("acme", "web"), ("acme", "ios"), ("globex", "web")):
        run("keys", "create", "--db", db, "--org", org, "--project", project)
    cases = {
        (): "the store has 3 projects: acme/ios, acme/web, globex/web; choose one with --org "
        "and --project (or HEADWATER_ORG and HEADWATER_PROJECT)",
        ("--org", "acme"): "there are 2 projects in org acme: acme/ios, acme/web; choose one "
        "with --project (or HEADWATER_PROJECT)",
        ("--project", "web"): "there are 2 projects named web: acme/web, globex/web; choose "
        "one with --org (or HEADWATER_ORG)",
        ("--org", "initech"): "project initech/* not found; the store's projects: acme/ios, "
        "acme/web, globex/web",
        ("--org", "acme", "--project", "app"): "project acme/app not found; the store's "
        "projects: acme/ios, acme/web, globex/web",
    }
    for args, message in cases.items():
        assert run("quarantine", "list", "--db", db, *args) == (1, f"Error: {message}\n"), args


def test_projects_list(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("migrate", "--db", db)
    store = SQLiteStore(db)
    web, _ = store.ensure_project("acme", "web", 1_000)
    store.ensure_project("acme", "ios", 2_000)
    provision.create_key(store, "acme", "web")
    revoked = provision.create_key(store, "acme", "web", "ios")
    store.revoke_key(revoked.api_key.split(".")[0], 3_000)
    body = msgspec.json.encode(
        {
            "track": [
                {
                    "name": "E",
                    "payload": [
                        {"eventId": "e1", "userId": "u", "timestamp": 1_714_631_900_000},
                        {"userId": 5},
                    ],
                }
            ]
        }
    )
    store.write([parse_body(body, Context(web.id, None, "k", 1_714_631_904_000), Settings())])
    store.close()
    code, out = run("projects", "list", "--db", db)
    assert (code, out) == (
        0,
        (
            '{"org": "acme", "project": "ios", "id": 2, "created_at": 2000, "keys": 0, '
            '"sources": 0, "pending_quarantine": 0, "latest_event_time": null}\n'
            '{"org": "acme", "project": "web", "id": 1, "created_at": 1000, "keys": 1, '
            '"sources": 2, "pending_quarantine": 1, "latest_event_time": 1714631900000}\n'
        ),
    )


def test_quarantine_dismiss(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    run("keys", "create", "--db", db, "--org", "acme", "--project", "web")
    store = SQLiteStore(db)
    project = store.find_project("acme", "web")
    assert project is not None
    body = msgspec.json.encode({"track": [{"name": "E", "payload": [{"userId": 1}] * 4}]})
    store.write([parse_body(body, Context(project.id, None, "k", 1_714_631_904_000), Settings())])
    store.close()
    base = ("quarantine", "dismiss", "--db", db)
    assert run(*base, "--id", "1", "--id", "99") == (1, '{"dismissed": 1, "missing": [99]}\n')
    assert run(*base, "--id", "2", "--status", "replayed") == (
        1, '{"dismissed": 0, "missing": [2]}\n')  # fmt: skip
    assert run(*base, "--status", "pending") == (0, '{"dismissed": 3, "missing": []}\n')
    assert run("quarantine", "list", "--db", db) == (0, "")  # nothing pending
    code, out = run("quarantine", "list", "--db", db, "--status", "dismissed")
    assert [(e["id"], e["raw"]) for e in map(json.loads, out.splitlines())] == [
        (1, ""), (2, ""), (3, ""), (4, "")]  # fmt: skip
    code, out = run("quarantine", "replay", "--db", db, "--id", "2")
    assert (code, out) == (1, "Error: no pending quarantine entry 2\n")
    code, out = run(*base)
    assert code == 2 and "give --id (repeatable), --status, or both" in out


def test_database_url_help_shows_the_postgresql_form() -> None:
    code, out = run("keys", "list", "--help")
    assert code == 0
    assert "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME" in " ".join(out.split())
