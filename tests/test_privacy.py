"""Privacy (issue 6): erasure by any identifier, suppression, export, the erasure record,
tenancy and scopes of the privacy routes, and the privacy and consent commands."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from headwater.api.app import create_app
from headwater.cli import main
from headwater.config import Settings
from headwater.ingest.normalize import parse_body
from headwater.model.event import Context
from headwater.store import open_store
from headwater.store.base import Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.privacy import PERSONAL_TABLES
from headwater.store.sql import SQLStore
from headwater.store.sqlite.store import SQLiteStore
from headwater.tenancy import provision
from tests import postgres
from tests.conftest import Tenant

Client = TestClient[Any]
T = 1_714_631_904_000

# The person to erase: every identifier and every value that only she has. Distinctive, so a
# substring found anywhere after the erasure can only be hers.
ADA = "ada-7f3a"
ADA_OLD = "adaline-old-55e1"  # a second userId, merged by an alias
P1, P2, P3 = "dev-1-ab12cd", "dev-2-34ef56", "kiosk-3-789abc"  # P3 is shared with bob later
EMAIL = "ada-7f3a@example.org"
NAME = "Adaline Quux"
PHONE = "+44 7700 900461"
SESSION = "sess-quux-1a2b3c"
ACCOUNT = "acct-quux-445566"
COMPANY = "Quux Heavy Industries"
CARD = "card-ends-9876"
ADA_ID = "u_" + base64.urlsafe_b64encode(ADA.encode()).decode().rstrip("=")
IDENTIFIERS = (ADA, ADA_OLD, P1, P2, P3)
MARKERS = (*IDENTIFIERS, ADA_ID, EMAIL, NAME, PHONE, SESSION, ACCOUNT, COMPANY, CARD)

# Someone else: bob shares the kiosk P3 later (a conflict: P3 stays ada's), zed aliased ada by
# mistake and an operator split zed off again.
BOB, BOB_PHONE, BOB_EMAIL = "bob-9d1e", "bob-phone-77", "bob@example.net"
ZED = "zed-31c0"


# -- helpers ---------------------------------------------------------------------------------


def send(client: Client, tenant: Tenant, name: str, *items: dict[str, Any]) -> Any:
    """POST one track group; the response (status not checked)."""
    body = msgspec.json.encode({"track": [{"name": name, "payload": list(items)}]})
    return client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)


def track(client: Client, tenant: Tenant, name: str, *items: dict[str, Any]) -> None:
    response = send(client, tenant, name, *items)
    assert response.status_code == 201, response.text
    assert response.json()["rejected"] == [], response.text


def lookup(client: Client, tenant: Tenant, **params: str) -> Any:
    return client.get(f"{tenant.base}/profiles/lookup", params=params, headers=tenant.headers)


def export(client: Client, tenant: Tenant, **params: str) -> Any:
    return client.get(f"{tenant.base}/privacy/export", params=params, headers=tenant.headers)


def erase(client: Client, tenant: Tenant, **body: Any) -> Any:
    return client.post(f"{tenant.base}/privacy/erase", json=body, headers=tenant.headers)


def consent(client: Client, tenant: Tenant, **body: Any) -> Any:
    return client.post(f"{tenant.base}/consents/data", json=body, headers=tenant.headers)


def sql_rows(store: Store, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    assert isinstance(store, SQLStore)
    return store._read(sql, params)


def tables(store: Store) -> list[str]:
    if isinstance(store, SQLiteStore):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    found = sorted(name for (name,) in sql_rows(store, sql))
    assert {"events", "quarantine", "identity_links", "consents", "erasures"} <= set(found)
    return found


def traces(store: Store, markers: tuple[str, ...] = MARKERS) -> list[tuple[str, str, str]]:
    """(table, marker, value) for every value of every row of every table holding a marker."""
    found = []
    for table in tables(store):
        for row in sql_rows(store, f'SELECT * FROM "{table}"'):
            for value in row:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                found += [(table, marker, text) for marker in markers if marker in text]
    return found


def events_of_user(store: Store, user_id: str) -> list[tuple[Any, ...]]:
    sql = "SELECT event_id, user_id, profile_id, another_user_id FROM events WHERE user_id = ?"
    return sorted(sql_rows(store, sql, (user_id,)))


# -- the scenario ----------------------------------------------------------------------------


def ada_and_friends(client: Client, tenant: Tenant) -> None:
    """Ada on three devices and two userIds, with attributes, sessions, revenue, an account,
    consents and quarantined items; bob sharing her kiosk later; zed, split off after a
    mistaken alias."""
    # anonymous browsing before sign-in, on each device
    track(client, tenant, "View Page",
          {"eventId": "a1", "profileId": P1, "timestamp": T, "data": {"url": "/home"}},
          {"eventId": "a2", "profileId": P2, "timestamp": T + 1},
          {"eventId": "a3", "profileId": P3, "timestamp": T + 2,
           "sessionId": SESSION})  # fmt: skip
    # the old userId, before the alias merged it
    track(client, tenant, "Identify",
          {"eventId": "o1", "userId": ADA_OLD, "timestamp": T + 5,
           "userAttributes": {"phone": PHONE}})  # fmt: skip
    # sign-in on every device: profileId and userId on one item
    track(client, tenant, "Identify",
          {"eventId": "i1", "profileId": P1, "userId": ADA, "timestamp": T + 10,
           "userAttributes": {"email": EMAIL, "name": NAME}},
          {"eventId": "i2", "profileId": P2, "userId": ADA, "timestamp": T + 11},
          {"eventId": "i3", "profileId": P3, "userId": ADA, "timestamp": T + 12,
           "sessionId": SESSION})  # fmt: skip
    alias = {"eventId": "al", "userId": ADA, "anotherUserId": ADA_OLD, "timestamp": T + 13}
    track(client, tenant, "Identify", alias)
    track(client, tenant, "Charge",
          {"eventId": "c1", "userId": ADA, "sessionId": SESSION, "timestamp": T + 14,
           "data": {"amount": 42, "status": "succeeded", "card": CARD}})  # fmt: skip
    track(client, tenant, "Join",
          {"eventId": "j1", "userId": ADA, "accountId": ACCOUNT, "timestamp": T + 15,
           "accountAttributes": {"company": COMPANY}})  # fmt: skip
    # bob: his own phone, then ada's kiosk (later: a conflict, P3 stays ada's)
    track(client, tenant, "Identify",
          {"eventId": "b1", "userId": BOB, "profileId": BOB_PHONE, "timestamp": T + 20,
           "userAttributes": {"email": BOB_EMAIL}},
          {"eventId": "b2", "userId": BOB, "profileId": P3, "timestamp": T + 30,
           "data": {"url": "/kiosk"}},
          {"eventId": "b3", "userId": BOB, "timestamp": T + 31,
           "data": {"url": "/cart"}})  # fmt: skip
    # anonymous again on the kiosk: P3's person, so ada's
    track(client, tenant, "View Page", {"eventId": "a4", "profileId": P3, "timestamp": T + 32})
    # zed: a mistaken alias of ada, split off by an operator
    track(client, tenant, "Identify",
          {"eventId": "z1", "userId": ZED, "anotherUserId": ADA, "timestamp": T + 40},
          {"eventId": "z2", "userId": ZED, "timestamp": T + 41, "data": {"n": 1}})  # fmt: skip
    person = lookup(client, tenant, userId=ZED).json()
    split = client.post(f"{tenant.base}/profiles/{person['id']}/split", json={"userId": ZED},
                        headers=tenant.headers)  # fmt: skip
    assert split.status_code == 200, split.text
    # consents: by userId, by profileId with its sourceId, and bob's naming the shared kiosk
    source = tenant.key.source_id
    consents = [
        {"userId": ADA, "action": "accept", "category": "analytics", "email": EMAIL,
         "timestamp": T + 16},
        {"profileId": P2, "sourceId": source, "action": "reject", "category": "ads",
         "timestamp": T + 17},
        {"userId": BOB, "profileId": P3, "action": "accept", "email": BOB_EMAIL,
         "timestamp": T + 18},
    ]  # fmt: skip
    for body in consents:
        assert consent(client, tenant, **body).status_code == 200
    # quarantined items naming her: a string too long, a malformed group holding her userId
    long_item = {"eventId": "q1", "userId": ADA, "sessionId": "s" * 300,
                 "userAttributes": {"name": NAME}}  # fmt: skip
    response = send(client, tenant, "View Page", long_item)
    assert response.status_code == 400 and response.json()["rejected"][0]["item"] == 0
    group = msgspec.json.encode({"track": [{"name": "x" * 300, "payload": [{"profileId": P1}]}]})
    response = client.post(f"{tenant.base}/track", content=group, headers=tenant.headers)
    assert response.status_code == 400, response.text
    # the scenario is what the tests assume it is
    ada = lookup(client, tenant, profileId=P2).json()
    assert (ada["id"], ada["userIds"], ada["profileIds"]) == (ADA_ID, [ADA, ADA_OLD], [P1, P2, P3])
    assert ada["attributes"] == {"phone": PHONE, "email": EMAIL, "name": NAME}
    assert ada["accounts"] == [ACCOUNT] and ada["computed"]["ltv"] == 42
    assert lookup(client, tenant, userId=BOB).json()["profileIds"] == [BOB_PHONE]
    assert lookup(client, tenant, userId=ZED).json()["userIds"] == [ZED]


#: Ada's events: a1-a4 (anonymous on her devices), o1, i1-i3, al, c1, j1.
ADA_EVENTS = 11
#: What erasing her removes from the scenario.
REMOVED = {
    "events": ADA_EVENTS,
    "eventsCleared": 2,  # b2 loses P3, z1 loses anotherUserId ADA
    "consents": 2,
    "consentsCleared": 1,  # bob's consent loses P3
    "identityLinks": 6,  # P1, P2, P3 and bob's P3 link, the alias and zed's alias
    "splits": 0,  # zed's split names zed only
    "quarantine": 2,
    "suppressed": 0,
}


# -- 1. erasure by any identifier, on both stores ---------------------------------------------


def test_erasure_leaves_no_trace_in_any_table(client: Client, tenant: Tenant, store: Store) -> None:
    # Rule: erasing by any one identifier (here a device, P2) erases the whole person across
    # every identifier; no table keeps an identifier or a value that was hers; other people's
    # rows survive, losing only her identifiers.
    ada_and_friends(client, tenant)
    before = traces(store)
    assert {table for table, _, _ in before} >= {
        "events", "identity_links", "consents", "quarantine",
    }  # fmt: skip
    bob_before = lookup(client, tenant, userId=BOB).json()

    response = erase(client, tenant, profileId=P2)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["person"] == ADA_ID
    assert done["erasure"]["removed"] == REMOVED
    assert isinstance(done["erasure"]["id"], int) and done["erasure"]["erasedAt"] >= T
    if isinstance(store, SQLiteStore):
        assert done["erasure"]["walCheckpoint"] == "complete"
    else:  # the files keep the bytes until `privacy scrub` (finding 9; tested below)
        assert done["erasure"]["scrub"] == "pending"

    assert traces(store) == []
    # bob keeps his events and data, and loses only the kiosk he shared with ada
    assert events_of_user(store, BOB) == [
        ("b1", BOB, BOB_PHONE, None), ("b2", BOB, None, None), ("b3", BOB, None, None),
    ]  # fmt: skip
    bob = lookup(client, tenant, userId=BOB).json()
    assert bob["attributes"] == {"email": BOB_EMAIL} and bob["profileIds"] == [BOB_PHONE]
    assert bob["computed"] == bob_before["computed"]
    assert bob["consents"]["general"]["profileId"] is None
    # zed keeps his events and his split, and loses only the alias naming ada
    assert events_of_user(store, ZED) == [("z1", ZED, None, None), ("z2", ZED, None, None)]
    assert sql_rows(store, "SELECT kind, identifier FROM identity_splits") == [("user", ZED)]
    assert lookup(client, tenant, userId=ZED).json()["computed"]["event_count"] == 2
    # she is gone by every identifier
    for params in ({"userId": ADA}, {"userId": ADA_OLD}, {"profileId": P1},
                   {"profileId": P2}, {"profileId": P3}):  # fmt: skip
        assert lookup(client, tenant, **params).status_code == 404, params
        assert export(client, tenant, **params).status_code == 404, params


@pytest.mark.parametrize(
    "by", [{"userId": ADA}, {"userId": ADA_OLD}, {"profileId": P1}, {"profileId": P3}]
)
def test_every_identifier_erases_the_same_person(
    client: Client, tenant: Tenant, store: Store, by: dict[str, str]
) -> None:
    # Rule: the erasure is of the person, whichever of their identifiers names them.
    ada_and_friends(client, tenant)
    response = erase(client, tenant, **by)
    assert response.status_code == 200, response.text
    assert response.json()["person"] == ADA_ID
    assert response.json()["erasure"]["removed"] == REMOVED
    assert traces(store) == []


def test_a_split_naming_the_person_is_erased_with_them(
    client: Client, tenant: Tenant, store: Store
) -> None:
    # Rule: an operator's split of one of the person's identifiers is erased with the person;
    # the user it was split from keeps their events, minus that identifier.
    track(client, tenant, "Identify",
          {"eventId": "s1", "profileId": "laptop", "userId": "liz", "timestamp": T},
          {"eventId": "s2", "profileId": P3, "userId": "liz", "timestamp": T + 1})  # fmt: skip
    track(client, tenant, "View Page", {"eventId": "s3", "profileId": P3, "timestamp": T + 2})
    liz = lookup(client, tenant, userId="liz").json()
    split = client.post(f"{tenant.base}/profiles/{liz['id']}/split", json={"profileId": P3},
                        headers=tenant.headers)  # fmt: skip
    assert split.status_code == 200, split.text
    response = erase(client, tenant, profileId=P3)
    assert response.status_code == 200, response.text
    assert response.json()["erasure"]["removed"] == {
        "events": 1, "eventsCleared": 1, "consents": 0, "consentsCleared": 0,
        "identityLinks": 1, "splits": 1, "quarantine": 0, "suppressed": 0,
    }  # fmt: skip
    assert traces(store, (P3,)) == []
    assert events_of_user(store, "liz") == [
        ("s1", "liz", "laptop", None),
        ("s2", "liz", None, None),
    ]
    liz = lookup(client, tenant, userId="liz").json()
    assert liz["profileIds"] == ["laptop"] and liz["computed"]["event_count"] == 2


# -- 2. SQLite: nothing left in the files -------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[tuple[Client, SQLiteStore, Tenant]]:
    """A client on an SQLite store of its own (file-level checks need the file)."""
    store = SQLiteStore(str(tmp_path / "privacy.db"))
    store.migrate()
    tenant = Tenant(provision.create_key(store, "acme", "web"))
    client: Client = TestClient(create_app(Settings(db=store.path), store))
    with client:
        yield client, store, tenant
    store.close()


def others(start: int, count: int, ada_every: int) -> list[dict[str, Any]]:
    """`count` events of other people, their identifiers spread over the alphabet (so ada's
    index entries sit among theirs), and one of ada's after every `ada_every`."""
    items: list[dict[str, Any]] = []
    for i in range(start, start + count):
        h = hashlib.sha1(str(i).encode()).hexdigest()
        items.append({"eventId": f"x{i}", "userId": f"{h[:2]}-{h[2:8]}",
                      "profileId": f"{h[8:10]}-{h[10:16]}", "accountId": f"{h[16:18]}-a",
                      "sessionId": f"os-{i // 7}", "timestamp": T + i,
                      "userAttributes": {"email": f"o{i}@example.com"},
                      "data": {"url": f"/page/{i}", "pad": "p" * (i % 90)}})  # fmt: skip
        if i % ada_every == 0:
            bio = NAME * (600 if i % 5 == 0 else 1)  # sometimes past a page: overflow pages
            items.append({"eventId": f"ada{i}", "userId": ADA, "profileId": (P1, P2, P3)[i % 3],
                          "sessionId": SESSION, "accountId": ACCOUNT, "timestamp": T + i,
                          "userAttributes": {"email": EMAIL, "name": NAME, "phone": PHONE},
                          "accountAttributes": {"company": COMPANY},
                          "data": {"card": CARD, "bio": bio}})  # fmt: skip
    return items


def test_erased_values_are_gone_from_the_sqlite_files(
    sqlite_app: tuple[Client, SQLiteStore, Tenant],
) -> None:
    # Rule: on SQLite, when the erasure returns, none of the person's values occur anywhere in
    # the database file, its WAL or its shared-memory index (secure_delete, the rebuilt
    # identifier indexes, the truncated WAL).
    client, store, tenant = sqlite_app
    ada_and_friends(client, tenant)
    # Thousands of others' events, hers interleaved, in several commits: index pages split
    # and move her entries around (without the index rebuild this leaves stale copies).
    for start in range(0, 6000, 1000):
        track(client, tenant, "Browse", *others(start, 1000, ada_every=37))
    files = [Path(store.path + suffix) for suffix in ("", "-wal", "-shm")]
    before = b"".join(f.read_bytes() for f in files if f.exists())
    assert all(marker.encode() in before for marker in MARKERS if marker != ADA_ID)

    response = erase(client, tenant, userId=ADA_OLD)
    assert response.status_code == 200, response.text
    assert response.json()["erasure"]["walCheckpoint"] == "complete"
    assert Path(store.path + "-wal").stat().st_size == 0  # truncated, still in WAL mode
    assert sql_rows(store, "PRAGMA journal_mode") == [("wal",)]
    for path in files:
        content = path.read_bytes() if path.exists() else b""
        left = [m for m in MARKERS if m.encode() in content]
        assert left == [], f"{path.name} still holds {left}"
    assert sql_rows(store, "SELECT count(*) FROM events WHERE event_id LIKE 'x%'") == [(6000,)]


def test_a_busy_reader_delays_the_wal_truncation_without_holding_the_writer(
    sqlite_app: tuple[Client, SQLiteStore, Tenant],
) -> None:
    # Rule: a reader in the middle of a read keeps the WAL from being truncated: the erasure
    # still completes, says so ("busy"), and the writer is free meanwhile; a truncating
    # checkpoint once the reader is done leaves nothing of the person in the files.
    client, store, tenant = sqlite_app
    ada_and_friends(client, tenant)
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # holds its snapshot
    try:
        response = erase(client, tenant, userId=ADA)
        assert response.status_code == 200, response.text
        assert response.json()["erasure"]["walCheckpoint"] == "busy"
        track(client, tenant, "After", {"eventId": "after-1", "userId": BOB})  # not blocked
    finally:
        reader.execute("COMMIT")
        reader.close()
    wal = Path(store.path + "-wal")
    assert wal.stat().st_size > 0 and EMAIL.encode() in wal.read_bytes()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    for suffix in ("", "-wal"):
        assert EMAIL.encode() not in Path(store.path + suffix).read_bytes()


# -- 2b. PostgreSQL: nothing left in the files after a scrub ------------------------------------


@pytest.fixture
def postgres_app() -> Iterator[tuple[Client, PostgresStore, Tenant, psycopg.Connection[Any]]]:
    """A client on a PostgreSQL schema of its own, and a superuser connection to read the
    schema's files through the server (`pg_read_binary_file`), which works wherever the
    server runs."""
    postgres.require()
    with (
        postgres.fresh_schema() as url,
        psycopg.connect(postgres.ADMIN_URL, autocommit=True) as admin,
    ):
        superuser = admin.execute("SELECT current_setting('is_superuser')").fetchone()
        if superuser != ("on",):
            pytest.skip("reading the data files needs a superuser on the test server")
        store = PostgresStore(url, max_size=4)
        store.migrate()
        tenant = Tenant(provision.create_key(store, "acme", "web"))
        admin.execute("SELECT set_config('search_path', %s, false)", (url.rsplit("%3D", 1)[1],))
        client: Client = TestClient(create_app(Settings(database_url=url), store))
        with client:
            yield client, store, tenant, admin
        store.close()


def relation_files(admin: psycopg.Connection[Any]) -> dict[str, tuple[str, bytes]]:
    """relation → (its file, the file's bytes) for every table, TOAST table, index and
    sequence of the schema, after a CHECKPOINT has written out the shared buffers."""
    admin.execute("CHECKPOINT")
    rows = admin.execute(
        "WITH mine AS (SELECT oid, reltoastrelid FROM pg_class "
        "              WHERE relnamespace = current_schema()::regnamespace), "
        "rels AS (SELECT oid FROM mine UNION SELECT reltoastrelid FROM mine "
        "         UNION SELECT indexrelid FROM pg_index "
        "               WHERE indrelid IN (SELECT reltoastrelid FROM mine)) "
        "SELECT c.relname, pg_relation_filepath(c.oid) FROM rels JOIN pg_class c USING (oid) "
        "WHERE pg_relation_filepath(c.oid) IS NOT NULL"
    ).fetchall()
    return {name: (path, read_file(admin, path)) for name, path in rows}


def read_file(admin: psycopg.Connection[Any], path: str) -> bytes:
    """A file under the data directory ("" once it is gone)."""
    found = admin.execute(
        "SELECT CASE WHEN (pg_stat_file(%s, true)).size IS NOT NULL "
        "THEN pg_read_binary_file(%s) END",
        (path, path),
    ).fetchone()
    return bytes(found[0]) if found and found[0] is not None else b""


def holding(files: dict[str, tuple[str, bytes]]) -> dict[str, list[str]]:
    found = {name: [m for m in MARKERS if m.encode() in data] for name, (_, data) in files.items()}
    return {name: markers for name, markers in found.items() if markers}


def test_erased_values_are_gone_from_the_postgresql_files_after_a_scrub(
    postgres_app: tuple[Client, PostgresStore, Tenant, psycopg.Connection[Any]],
) -> None:
    # Rule (issue 11, finding 9): on PostgreSQL an erased row's bytes stay in the table and
    # index files after the erasure, VACUUM or not; `scrub_erased` (`headwater privacy
    # scrub`) rewrites the tables, after which none of the person's values occur in any file
    # of the schema (tables, TOAST, indexes), nor in the files the tables had before.
    client, store, tenant, admin = postgres_app
    ada_and_friends(client, tenant)
    for start in range(0, 3000, 1000):
        track(client, tenant, "Browse", *others(start, 1000, ada_every=37))
    before = holding(relation_files(admin))
    assert {m for found in before.values() for m in found} == set(MARKERS) - {ADA_ID}

    response = erase(client, tenant, userId=ADA_OLD)
    assert response.status_code == 200, response.text
    assert response.json()["erasure"]["scrub"] == "pending"
    admin.execute(f"VACUUM {', '.join(PERSONAL_TABLES)}")  # not enough: freed, not zeroed
    vacuumed = relation_files(admin)
    assert "events" in holding(vacuumed)

    assert store.scrub_erased(lock_timeout=30) == {
        "scrub": "complete",
        "tables": dict.fromkeys(PERSONAL_TABLES, "rewritten"),
    }
    after = relation_files(admin)
    assert holding(after) == {}
    old_files = {name: (path, read_file(admin, path)) for name, (path, _) in vacuumed.items()}
    assert holding(old_files) == {}  # truncated at commit, not left beside the new ones
    assert sql_rows(store, "SELECT count(*) FROM events WHERE event_id LIKE 'x%'") == [(3000,)]
    assert lookup(client, tenant, userId=BOB).status_code == 200


def test_a_scrub_waits_for_transactions_that_still_see_the_erased_rows(
    postgres_app: tuple[Client, PostgresStore, Tenant, psycopg.Connection[Any]],
) -> None:
    # Rule: a rewrite keeps the deleted rows that a running transaction may still see (found
    # when other sessions' transactions ran beside the test above). So a scrub first waits
    # for every transaction older than itself; one outlasting the timeout makes it busy, not
    # falsely complete. Then, once it ends, nothing erased is left in any file.
    client, store, tenant, admin = postgres_app
    ada_and_friends(client, tenant)
    schema = admin.execute("SELECT current_schema()").fetchone()
    with psycopg.connect(postgres.ADMIN_URL) as old:
        old.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        old.execute("SELECT set_config('search_path', %s, true)", schema)
        # Its snapshot, taken before the erasure; it locks none of the tables a scrub rewrites.
        assert old.execute("SELECT count(*) FROM projects").fetchone() == (1,)
        assert erase(client, tenant, userId=ADA_OLD).status_code == 200
        busy = store.scrub_erased(lock_timeout=0.3)
        assert busy == {"scrub": "busy", "tables": dict.fromkeys(PERSONAL_TABLES, "busy")}
    assert store.scrub_erased(lock_timeout=30)["scrub"] == "complete"
    assert holding(relation_files(admin)) == {}


def test_a_scrub_skips_a_locked_table_and_says_so(
    postgres_app: tuple[Client, PostgresStore, Tenant, psycopg.Connection[Any]],
) -> None:
    # Rule: a table whose lock is not had within the timeout (a long read holds it) is
    # skipped and reported busy; the others are rewritten, and a later scrub completes.
    _, store, _, admin = postgres_app
    with admin.transaction():
        admin.execute("SELECT count(*) FROM consents")  # holds its lock until the end
        report = store.scrub_erased(lock_timeout=0.2)
    assert report == {
        "scrub": "busy",
        "tables": {**dict.fromkeys(PERSONAL_TABLES, "rewritten"), "consents": "busy"},
    }
    assert store.scrub_erased(lock_timeout=5)["scrub"] == "complete"


# -- 3. the erasure record ----------------------------------------------------------------------


def test_the_erasure_record_counts_and_names_nobody(
    client: Client, tenant: Tenant, store: Store
) -> None:
    # Rule: what stays of an erasure is when, who asked and the counts; the erasures and
    # suppressions tables hold nothing that names the person.
    ada_and_friends(client, tenant)
    done = erase(client, tenant, userId=ADA, suppress=True).json()["erasure"]
    listed = client.get(f"{tenant.base}/privacy/erasures", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    prefix = tenant.key.api_key.partition(".")[0]
    assert listed.json() == {
        "erasures": [{"id": done["id"], "erasedAt": done["erasedAt"],
                      "requestedBy": f"key {prefix}", "removed": done["removed"]}],
    }  # fmt: skip
    assert done["removed"] == {**REMOVED, "suppressed": 5}  # 2 userIds and 3 profileIds
    for table in ("erasures", "suppressions", "privacy_policies"):
        assert [t for t in traces(store) if t[0] == table] == []
        for row in sql_rows(store, f"SELECT * FROM {table}"):
            assert not {str(v) for v in row} & set(IDENTIFIERS), (table, row)
    assert sql_rows(store, "SELECT count(*) FROM suppressions") == [(5,)]


# -- 4. suppression -----------------------------------------------------------------------------


LATER = [
    {"eventId": "n1", "userId": ADA, "timestamp": T + 100},
    {"eventId": "n2", "profileId": P1, "timestamp": T + 101},
    {"eventId": "n3", "userId": "newcomer-1", "anotherUserId": ADA_OLD, "timestamp": T + 102},
    {"eventId": "n4", "userId": BOB, "profileId": P3, "timestamp": T + 103},
]
LATER_FIELDS = ["userId", "profileId", "anotherUserId", "profileId"]


def test_suppression_refuses_every_later_event_naming_an_identifier(
    client: Client, tenant: Tenant, store: Store
) -> None:
    # Rule: after an erasure with suppress, events naming any of the person's identifiers (as
    # userId, profileId or anotherUserId) are refused and reported, stored nowhere (not even
    # in quarantine); consents naming them are refused; other people's events are stored.
    ada_and_friends(client, tenant)
    assert erase(client, tenant, profileId=P2, suppress=True).status_code == 200
    quarantined = sql_rows(store, "SELECT count(*) FROM quarantine")
    mixed = [*LATER, {"eventId": "n5", "userId": BOB, "timestamp": T + 104}]
    response = send(client, tenant, "Later", *mixed)
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["accepted"], report["duplicates"]) == (1, 0)
    assert [(r["item"], r["path"], r["message"]) for r in report["rejected"]] == [
        (i, f"track[0].payload[{i}].{field}",
         f"not stored: this {field} belongs to an erased person and is suppressed")
        for i, field in enumerate(LATER_FIELDS)
    ]  # fmt: skip
    only = send(client, tenant, "Later", {"eventId": "n6", "userId": ADA_OLD})
    assert only.status_code == 400 and only.json()["accepted"] == 0  # nothing stored: 4xx
    assert events_of_user(store, BOB)[-1] == ("n5", BOB, None, None)
    assert sql_rows(store, "SELECT count(*) FROM quarantine") == quarantined
    source = tenant.key.source_id
    for body in ({"userId": ADA, "action": "accept"},
                 {"profileId": P3, "sourceId": source, "action": "reject"}):  # fmt: skip
        refused = consent(client, tenant, **body)
        assert refused.status_code == 400, refused.text
        assert "suppressed" in refused.text
    assert consent(client, tenant, userId=BOB, action="reject").status_code == 200
    assert traces(store) == []
    for params in ({"userId": ADA}, {"profileId": P1}):
        assert lookup(client, tenant, **params).status_code == 404


def test_suppression_keeps_invalid_items_out_of_quarantine(
    client: Client, tenant: Tenant, store: Store
) -> None:
    # Rule: nothing naming a suppressed identifier is stored, not even in quarantine.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA})
    assert erase(client, tenant, userId=ADA, suppress=True).status_code == 200
    invalid = {"eventId": "e2", "userId": ADA, "sessionId": "s" * 300,
               "userAttributes": {"email": EMAIL}}  # fmt: skip
    response = send(client, tenant, "Identify", invalid)
    assert response.status_code == 400
    assert traces(store) == []


@pytest.mark.parametrize(
    "body",
    [
        # a product item naming her: her person fields would fold into a profile again
        {"track": [{"name": "Sync", "payload": [{"eventId": "p1", "productId": "sku1",
            "userId": ADA, "userAttributes": {"email": EMAIL}, "data": {"title": "T",
            "description": "D", "url": "https://x.example/t", "image_link":
            "https://x.example/t.png"}}]}]},
        # an invalid item carrying a field named "payload" of its own
        {"track": [{"name": "E", "payload": [{"eventId": "x1", "userId": ADA,
            "timestamp": "bad", "payload": "x", "userAttributes": {"email": EMAIL}}]}]},
        # an incomplete product item (quarantined, were it not for her userId)
        {"track": [{"name": "Sync", "payload": [{"eventId": "p2", "productId": "sku2",
            "userId": ADA, "data": {"title": EMAIL}}]}]},
    ],
)  # fmt: skip
def test_suppression_covers_product_items_and_odd_invalid_items(
    client: Client, tenant: Tenant, store: Store, body: dict[str, Any]
) -> None:
    # Rule: no item naming a suppressed identifier is stored, whatever its kind or shape.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA})
    assert erase(client, tenant, userId=ADA, suppress=True).status_code == 200
    response = client.post(f"{tenant.base}/track", json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert "suppressed" in response.json()["rejected"][0]["message"]
    assert traces(store) == []
    assert lookup(client, tenant, userId=ADA).status_code == 404


def test_suppression_covers_bodies_that_are_not_json(
    client: Client, tenant: Tenant, store: Store
) -> None:
    # Rule: an unreadable body naming a suppressed identifier (as any string in it) is
    # refused, not kept in quarantine; one naming nobody suppressed is kept as usual.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA})
    assert erase(client, tenant, userId=ADA, suppress=True).status_code == 200
    truncated = f'{{"track":[{{"name":"View","payload":[{{"userId":"{ADA}","email":"{EMAIL}"'
    response = client.post(f"{tenant.base}/track", content=truncated.encode(),
                           headers=tenant.headers)  # fmt: skip
    assert response.status_code == 400
    assert traces(store) == []
    others = '{"track":[{"name":"View","payload":[{"userId":"bob-1"'
    client.post(f"{tenant.base}/track", content=others.encode(), headers=tenant.headers)
    kept = client.get(f"{tenant.base}/quarantine", headers=tenant.headers).json()["items"]
    assert [entry["raw"] for entry in kept] == [others]


@pytest.mark.parametrize(
    "body",
    [
        f'[{{"userId":"{ADA}"}}]',  # an array for a body
        f'{{"userId":"{ADA}","name":"E"}}',  # a flat object
        f'{{"track":{{"userId":"{ADA}"}}}}',  # track as an object
        f'{{"track":[["{ADA}"]]}}',  # a group that is a list
        # a repeated key in an invalid item (in a valid one the last value is the event's)
        f'{{"track":[{{"name":"E","payload":[{{"userId":"{ADA}","userId":"x","timestamp":"no"}}]}}]}}',
        f'{{"track":[{{"name":"E","payload":[{{"userId":{{"id":"{ADA}"}}}}]}}]}}',
        f'"{ADA}"',  # a string for a body
    ],
)
def test_rejected_texts_of_any_shape_are_erased_and_then_refused(
    client: Client, tenant: Tenant, store: Store, body: str
) -> None:
    # Rule: a rejected text names the person wherever their identifier appears as a value
    # outside the wire's shape (or in a repeated key): erased with them, and refused once
    # they are suppressed.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA})

    def post() -> Any:
        return client.post(f"{tenant.base}/track", content=body.encode(), headers=tenant.headers)

    assert post().status_code == 400
    assert (
        erase(client, tenant, userId=ADA, suppress=True).json()["erasure"]["removed"]["quarantine"]
        == 1
    )
    assert post().status_code == 400  # refused: kept nowhere, not even in quarantine
    assert traces(store, (ADA,)) == []


def test_erasure_keeps_quarantined_items_that_merely_hold_the_same_text(
    client: Client, tenant: Tenant
) -> None:
    # Rule: only an item's userId, profileId or anotherUserId names a person: erasing userId
    # "42" keeps other people's quarantined items holding 42 as a quantity or a title.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": "42"})
    long = "s" * 300
    items: list[dict[str, Any]] = [
        {"eventId": "q1", "userId": "bob", "sessionId": long, "data": {"qty": 42}},
        {"eventId": "q2", "userId": "carol", "sessionId": long, "data": {"title": "42"}},
        {"eventId": "q3", "userId": "42", "sessionId": long},
        {"eventId": "q4", "userId": 42},  # a number where a string belongs: still names "42"
    ]
    assert send(client, tenant, "E", *items).status_code == 400
    done = erase(client, tenant, userId="42").json()["erasure"]["removed"]
    assert done["quarantine"] == 2
    left = client.get(f"{tenant.base}/quarantine", headers=tenant.headers).json()["items"]
    assert [json.loads(entry["raw"])["eventId"] for entry in left] == ["q1", "q2"]


def test_devices_linked_past_the_cap_are_erased_and_exported_with_the_person(
    make_client: Any, tenant: Tenant, store: Store
) -> None:
    # Rule: a device linked past max_profiles_per_person is an anonymous person of its own
    # for profiles, but what it recorded is the person's data: exported and erased with them.
    client = make_client(max_profiles_per_person=2)
    for n in (1, 2, 3):
        track(
            client,
            tenant,
            "Identify",
            {"eventId": f"i{n}", "profileId": f"dev-7f3a-{n}", "userId": ADA, "timestamp": T + n},
        )
        track(client, tenant, "View", {"eventId": f"anon-{n}", "profileId": f"dev-7f3a-{n}",
              "timestamp": T + 10 + n, "userAttributes": {"email": EMAIL}})  # fmt: skip
    assert lookup(client, tenant, userId=ADA).json()["profileIds"] == ["dev-7f3a-1", "dev-7f3a-2"]
    document = export(client, tenant, userId=ADA).json()
    assert document["identities"]["profileIds"] == ["dev-7f3a-1", "dev-7f3a-2", "dev-7f3a-3"]
    assert sorted(e["eventId"] for e in document["events"]) == [
        "anon-1", "anon-2", "anon-3", "i1", "i2", "i3",
    ]  # fmt: skip
    done = erase(client, tenant, userId=ADA).json()["erasure"]["removed"]
    assert done["events"] == 6
    assert traces(store, (ADA, "dev-7f3a-", EMAIL)) == []


def test_without_suppression_the_person_starts_anew(
    client: Client, tenant: Tenant, store: Store
) -> None:
    # Rule: an erasure without suppress does not refuse later events: the same identifiers
    # start a new person, and a re-sent erased event is stored again (no dedup memory).
    ada_and_friends(client, tenant)
    done = erase(client, tenant, userId=ADA).json()["erasure"]
    assert done["removed"]["suppressed"] == 0
    assert sql_rows(store, "SELECT count(*) FROM suppressions") == [(0,)]
    resent = {"eventId": "i1", "profileId": P1, "userId": ADA, "timestamp": T + 10}
    again = send(client, tenant, "Identify", resent)
    assert again.status_code == 201 and again.json()["accepted"] == 1, again.text
    ada = lookup(client, tenant, profileId=P1).json()
    assert (ada["userIds"], ada["profileIds"], ada["attributes"]) == ([ADA], [P1], {})
    assert ada["computed"]["event_count"] == 1
    assert consent(client, tenant, userId=ADA, action="accept").status_code == 200


def test_suppressing_an_unused_identifier_is_allowed(client: Client, tenant: Tenant) -> None:
    # Rule: erasing nobody is 404, unless suppressing (an erased person's identifiers can be
    # suppressed afterwards); then their events are refused.
    assert erase(client, tenant, userId="never-seen").status_code == 404
    done = erase(client, tenant, userId="never-seen", suppress=True)
    assert done.status_code == 200, done.text
    assert done.json()["erasure"]["removed"] == {
        "events": 0, "eventsCleared": 0, "consents": 0, "consentsCleared": 0,
        "identityLinks": 0, "splits": 0, "quarantine": 0, "suppressed": 1,
    }  # fmt: skip
    refused = send(client, tenant, "E", {"eventId": "x", "userId": "never-seen"})
    assert refused.status_code == 400 and "suppressed" in refused.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"userId": ADA, "profileId": P1}, 400),
        ({"userId": ADA, "extra": 1}, 400),
        ({"userId": 7}, 400),
        ({"userId": ADA, "suppress": "yes"}, 400),
        ({"userId": "undefined"}, 404),
        ({"userId": "nobody-here"}, 404),
    ],
)
def test_bad_erase_requests_erase_nothing(
    client: Client, tenant: Tenant, store: Store, body: dict[str, Any], status: int
) -> None:
    # Rule: an erase request names exactly one real, used identifier; anything else erases
    # nothing.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA, "profileId": P1})
    response = erase(client, tenant, **body)
    assert response.status_code == status, response.text
    assert lookup(client, tenant, userId=ADA).json()["computed"]["event_count"] == 1
    assert sql_rows(store, "SELECT count(*) FROM erasures") == [(0,)]


# -- quarantined entries that name the person -----------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "as_sent"),
    [("ada/7f3a", "ada/7f3a"), ("zoë-7f3a", "zo\\u00eb-7f3a"), ('ada"q', 'ada\\"q')],
)
def test_quarantined_entries_naming_the_person_are_erased(
    client: Client, tenant: Tenant, store: Store, identifier: str, as_sent: str
) -> None:
    # Rule: every quarantined entry that holds one of the person's identifiers as a JSON
    # value is erased (also when JSON-escaped); one that only mentions a longer string stays.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": identifier})
    long = "s" * 300
    mine = f'{{"userId":"{as_sent}","sessionId":"{long}"}}'
    not_mine = f'{{"userId":"{as_sent}-other","sessionId":"{long}"}}'
    body = f'{{"track":[{{"name":"E","payload":[{mine},{not_mine}]}}]}}'
    assert client.post(f"{tenant.base}/track", content=body.encode(),
                       headers=tenant.headers).status_code == 400  # fmt: skip
    done = erase(client, tenant, userId=identifier).json()["erasure"]["removed"]
    assert done["quarantine"] == 1
    left = client.get(f"{tenant.base}/quarantine", headers=tenant.headers).json()["items"]
    assert [json.loads(entry["raw"])["userId"] for entry in left] == [f"{identifier}-other"]


@pytest.mark.parametrize(
    ("identifier", "as_sent"),
    [("team/ada", "team\\/ada"), ("ada<&>", "ada\\u003c\\u0026\\u003e"), ("zoë", "zo\\u00EB")],
)
def test_quarantined_entries_are_erased_however_the_client_escaped_json(
    client: Client, tenant: Tenant, store: Store, identifier: str, as_sent: str
) -> None:
    # Rule: a quarantined entry holding the identifier as a JSON value is erased, whatever
    # valid JSON escape the client's encoder used for it.
    assert json.loads(f'"{as_sent}"') == identifier
    track(client, tenant, "Identify", {"eventId": "e1", "userId": identifier})
    item = f'{{"userId":"{as_sent}","sessionId":"{"s" * 300}"}}'
    body = f'{{"track":[{{"name":"E","payload":[{item}]}}]}}'
    assert client.post(f"{tenant.base}/track", content=body.encode(),
                       headers=tenant.headers).status_code == 400  # fmt: skip
    assert erase(client, tenant, userId=identifier).status_code == 200
    left = client.get(f"{tenant.base}/quarantine", headers=tenant.headers).json()["items"]
    assert left == []


# -- 5. export ----------------------------------------------------------------------------------

EXPORT_KEYS = {
    "exportedAt", "person", "attributes", "attributeSources", "computed", "unreadable",
    "identities", "sessions", "consents", "accounts", "events",
}  # fmt: skip


def test_export_is_the_whole_person_by_any_identifier(client: Client, tenant: Tenant) -> None:
    # Rule: an access request gives one document with everything about the person across
    # every identifier (all events, all sessions, identities, consents, accounts without
    # members), the same whichever identifier asks, and nothing of anyone else's events.
    ada_and_friends(client, tenant)
    documents = []
    for params in ({"userId": ADA}, {"userId": ADA_OLD}, {"profileId": P1},
                   {"profileId": P2}, {"profileId": P3}):  # fmt: skip
        response = export(client, tenant, **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        document = response.json()
        assert set(document) == EXPORT_KEYS
        assert isinstance(document.pop("exportedAt"), int)
        documents.append(document)
    assert all(d == documents[0] for d in documents)
    ada = documents[0]
    profile = lookup(client, tenant, userId=ADA).json()
    assert ada["person"] == {"id": ADA_ID, "userIds": [ADA, ADA_OLD], "profileIds": [P1, P2, P3]}
    assert ada["identities"]["userIds"] == [ADA, ADA_OLD]
    assert ada["identities"]["profileIds"] == [P1, P2, P3]
    assert {"alias", "link"} <= {h["type"] for h in ada["identities"]["history"]}
    for key in ("attributes", "attributeSources", "computed", "sessions", "unreadable"):
        assert ada[key] == profile[key], key
    assert ada["attributes"] == {"phone": PHONE, "email": EMAIL, "name": NAME}
    assert ada["consents"]["status"] == profile["consents"]
    history = [(c["userId"], c["profileId"], c["action"], c["timestamp"], c.get("email"))
               for c in ada["consents"]["history"]]  # fmt: skip
    assert history == [(ADA, None, "accept", T + 16, EMAIL), (None, P2, "reject", T + 17, None)]
    assert ada["consents"]["status"]["categories"]["ads"]["status"] == "rejected"
    [account] = ada["accounts"]
    assert account["id"] == ACCOUNT and "members" not in account
    assert account["attributes"] == {"company": COMPANY}
    events = ada["events"]
    assert sorted(e["eventId"] for e in events) == sorted(
        ["a1", "a2", "a3", "a4", "o1", "i1", "i2", "i3", "al", "c1", "j1"]
    )
    assert len(events) == ADA_EVENTS == ada["computed"]["event_count"]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    i1 = next(e for e in events if e["eventId"] == "i1")
    assert i1["userAttributes"] == {"email": EMAIL, "name": NAME} and i1["profileId"] == P1


def test_export_names_no_one_else(client: Client, tenant: Tenant) -> None:
    # Rule: an access request discloses the person's data, not other people's identifiers.
    ada_and_friends(client, tenant)
    text = export(client, tenant, userId=ADA).text
    assert BOB not in text and ZED not in text and BOB_EMAIL not in text


def test_export_streams_every_event_of_a_large_person(client: Client, tenant: Tenant) -> None:
    # Rule: the export holds every event and every session, however many (more than one
    # 64 KiB chunk, more than one 1000-row page); the profile shows only recent sessions.
    total = 3000
    items = [{"eventId": f"e{i:04d}", "userId": "big", "profileId": f"big-dev-{i % 3}",
              "sessionId": f"s{i // 200:02d}", "timestamp": T + i,
              "data": {"i": i, "note": "n" * 40}} for i in range(total)]  # fmt: skip
    for start in range(0, total, 1500):
        track(client, tenant, "Browse", *items[start : start + 1500])
    track(client, tenant, "Browse", {"eventId": "other", "userId": "small", "timestamp": T})
    response = export(client, tenant, profileId="big-dev-2")
    assert response.status_code == 200
    assert len(response.content) > 3 * 64 * 1024
    document = response.json()
    assert [e["eventId"] for e in document["events"]] == [f"e{i:04d}" for i in range(total)]
    assert document["computed"]["event_count"] == total
    assert len(document["sessions"]) == 15
    assert len(lookup(client, tenant, userId="big").json()["sessions"]) == 10


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"userId": "nobody-here"}, 404),
        ({"profileId": "no-device"}, 404),
        ({"userId": "undefined"}, 404),
        ({}, 400),
        ({"userId": ADA, "profileId": P1}, 400),
        ({"userId": "x" * 300}, 400),
    ],
)
def test_bad_export_requests(
    client: Client, tenant: Tenant, params: dict[str, str], status: int
) -> None:
    # Rule: an export names exactly one identifier someone used.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA, "profileId": P1})
    response = export(client, tenant, **params)
    assert response.status_code == status, response.text
    assert "errors" in response.json()


# -- 6. tenancy ---------------------------------------------------------------------------------


def test_other_projects_keys_cannot_reach_privacy_routes(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    # Rule: privacy routes of a project answer only that project's keys (404 otherwise).
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA, "profileId": P1})
    base, headers = tenant.base, other_tenant.headers
    responses = [
        client.post(f"{base}/privacy/erase", json={"userId": ADA}, headers=headers),
        client.get(f"{base}/privacy/export", params={"userId": ADA}, headers=headers),
        client.get(f"{base}/privacy/erasures", headers=headers),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert lookup(client, tenant, userId=ADA).json()["computed"]["event_count"] == 1


@pytest.mark.parametrize("erased", ["first", "second"])
def test_erasure_and_suppression_stay_in_their_project(
    client: Client, tenant: Tenant, other_tenant: Tenant, erased: str
) -> None:
    # Rule: the same userId in two projects is two people: erasing (and suppressing) it in
    # one leaves the other project's person, events and ingestion untouched.
    projects = {"first": tenant, "second": other_tenant}
    for name, project in projects.items():
        track(client, project, "Identify",
              {"eventId": f"{name}-1", "userId": ADA, "profileId": P1,
               "userAttributes": {"project": name}},
              {"eventId": f"{name}-2", "userId": ADA, "timestamp": T})  # fmt: skip
    gone, kept = projects[erased], projects["second" if erased == "first" else "first"]
    before = export(client, kept, userId=ADA).json()
    response = erase(client, gone, userId=ADA, suppress=True)
    assert response.json()["erasure"]["removed"]["events"] == 2
    assert lookup(client, gone, userId=ADA).status_code == 404
    after = export(client, kept, userId=ADA).json()
    before.pop("exportedAt")
    after.pop("exportedAt")
    assert after == before and len(after["events"]) == 2
    assert client.get(f"{kept.base}/privacy/erasures", headers=kept.headers).json() == {
        "erasures": []
    }
    track(client, kept, "Later", {"eventId": "later", "userId": ADA, "profileId": P1})
    assert send(client, gone, "Later", {"eventId": "later", "userId": ADA}).status_code == 400


# -- 7. scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "can_export", "can_erase"),
    [(["read"], True, False), (["ingest", "read"], True, False), (["ingest"], False, False),
     (["admin"], False, True)],
)  # fmt: skip
def test_scopes_of_the_privacy_routes(
    client: Client, tenant: Tenant, store: Store, scopes: list[str], can_export: bool,
    can_erase: bool,
) -> None:  # fmt: skip
    # Rule: export needs `read`; erase and the erasure list need `admin`; 403 otherwise,
    # and a refused erase erases nothing.
    track(client, tenant, "Identify", {"eventId": "e1", "userId": ADA, "profileId": P1})
    key = Tenant(provision.create_key(store, "acme", "web", scopes=scopes))
    assert export(client, key, userId=ADA).status_code == (200 if can_export else 403)
    listed = client.get(f"{key.base}/privacy/erasures", headers=key.headers)
    assert listed.status_code == (200 if can_erase else 403)
    response = erase(client, key, userId=ADA)
    assert response.status_code == (200 if can_erase else 403), response.text
    if not can_erase:
        assert "'admin' scope" in response.text
    assert (lookup(client, tenant, userId=ADA).status_code == 404) is can_erase


# -- 8. the CLI ---------------------------------------------------------------------------------


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


@pytest.fixture
def cli(database_url: str) -> Iterator[tuple[str, ...]]:
    """A project holding ada (two devices) and bob, on each backend; the CLI arguments that
    name it."""
    store = open_store(Settings(database_url=database_url))
    store.migrate()
    key = provision.create_key(store, "acme", "web")
    project = store.find_project("acme", "web")
    assert project is not None
    items = [
        {"eventId": "v1", "profileId": P2, "timestamp": T},
        {"eventId": "i1", "profileId": P1, "userId": ADA, "timestamp": T + 1,
         "userAttributes": {"email": EMAIL}},
        {"eventId": "i2", "profileId": P2, "userId": ADA, "timestamp": T + 2},
        {"eventId": "b1", "userId": BOB, "timestamp": T + 3},
    ]  # fmt: skip
    body = msgspec.json.encode({"track": [{"name": "Identify", "payload": items}]})
    try:
        store.write([parse_body(body, Context(project.id, key.source_id, "k", T + 10), Settings())])
    finally:
        store.close()
    yield ("--database-url", database_url, "--org", "acme", "--project", "web")


def erased(where: tuple[str, ...]) -> bool:
    code, out = run("privacy", "export", *where, "--user-id", ADA)
    assert code in (0, 1), out
    return code == 1 and "Error: no person has used" in out


def test_cli_export_prints_the_document(cli: tuple[str, ...]) -> None:
    # Rule: `privacy export` prints the export document, by either identifier.
    code, out = run("privacy", "export", *cli, "--user-id", ADA)
    assert code == 0, out
    document = json.loads(out)
    assert set(document) == EXPORT_KEYS
    assert document["person"] == {"id": ADA_ID, "userIds": [ADA], "profileIds": [P1, P2]}
    assert [e["eventId"] for e in document["events"]] == ["v1", "i1", "i2"]
    code, by_device = run("privacy", "export", *cli, "--profile-id", P2)
    assert code == 0 and {**json.loads(by_device), "exportedAt": 0} == {
        **document, "exportedAt": 0,
    }  # fmt: skip
    code, out = run("privacy", "export", *cli, "--user-id", "nobody-here")
    assert code == 1 and out == "Error: no person has used the identifier 'nobody-here'\n"
    code, out = run("privacy", "export", *cli)
    assert code == 2 and "give exactly one of --user-id or --profile-id" in out


def test_cli_erase_with_yes(cli: tuple[str, ...]) -> None:
    # Rule: `privacy erase --yes` erases without asking and prints the report; `erasures`
    # lists it; an unknown person is an error (exit 1).
    code, out = run("privacy", "erase", *cli, "--profile-id", P2, "--yes")
    assert code == 0, out
    report = json.loads(out)
    assert report["person"] == ADA_ID
    assert report["erasure"]["removed"] == {
        "events": 3, "eventsCleared": 0, "consents": 0, "consentsCleared": 0,
        "identityLinks": 2, "splits": 0, "quarantine": 0, "suppressed": 0,
    }  # fmt: skip
    assert erased(cli)
    code, out = run("privacy", "export", *cli, "--user-id", BOB)
    assert code == 0 and len(json.loads(out)["events"]) == 1
    code, out = run("privacy", "erasures", *cli)
    assert code == 0
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert listed == {"id": report["erasure"]["id"], "erasedAt": report["erasure"]["erasedAt"],
                      "requestedBy": "cli", "removed": report["erasure"]["removed"]}  # fmt: skip
    code, out = run("privacy", "erase", *cli, "--user-id", ADA, "--yes")
    assert code == 1 and out == f"Error: no person has used the identifiers of {ADA_ID}\n"
    assert len(run("privacy", "erasures", *cli)[1].splitlines()) == 1


def test_cli_scrub_rewrites_the_store(cli: tuple[str, ...]) -> None:
    # Rule: `privacy scrub` runs the store's scrub and prints its report (PostgreSQL: every
    # personal table rewritten; SQLite: the WAL truncated, the file being scrubbed already).
    where = cli[:2]
    assert run("privacy", "erase", *cli, "--user-id", ADA, "--yes")[0] == 0
    code, out = run("privacy", "scrub", *where)
    assert code == 0, out
    report = json.loads(out)
    if where[1].startswith("sqlite"):
        assert report == {"scrub": "complete", "walCheckpoint": "complete"}
    else:
        assert report == {
            "scrub": "complete",
            "tables": dict.fromkeys(PERSONAL_TABLES, "rewritten"),
        }


@pytest.mark.parametrize("flag", [("--profile-id", "0"), ("--user-id", "anonymous")])
def test_cli_erase_refuses_placeholders(cli: tuple[str, ...], flag: tuple[str, str]) -> None:
    # Rule: a placeholder identifies nobody: the CLI erases and suppresses nothing for it
    # (as the API answers 404).
    code, out = run("privacy", "erase", *cli, *flag, "--suppress", "--yes")
    assert code == 1 and "is a placeholder, not an identifier" in out, out
    assert run("privacy", "erasures", *cli) == (0, "")


def test_cli_erase_refuses_without_a_terminal(cli: tuple[str, ...]) -> None:
    # Rule: without --yes and without a terminal to confirm on, nothing is erased (exit 2).
    code, out = run("privacy", "erase", *cli, "--user-id", ADA, input="y\n")
    assert code == 2
    assert out.splitlines()[-1] == "Error: no terminal to confirm on: pass --yes to erase"
    assert not erased(cli)
    assert run("privacy", "erasures", *cli) == (0, "")


@pytest.mark.parametrize(("answer", "code"), [("n", 1), ("", 1), ("y", 0)])
def test_cli_erase_asks_on_a_terminal(
    cli: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    # Rule: on a terminal, erase shows the person and asks; only "y" erases.
    monkeypatch.setattr("headwater.commands.privacy.interactive", lambda: True)
    got, out = run("privacy", "erase", *cli, "--user-id", ADA, input=f"{answer}\n")
    assert got == code, out
    lines = out.splitlines()
    assert lines[0] == f"Person {ADA_ID}: userIds {ADA}; profileIds {P1}, {P2}"
    assert lines[1] == f"Erase everything stored about this person? [y/N]: {answer}"
    if code:
        assert lines[2:] == ["Aborted!"]
    else:
        assert json.loads(lines[2])["erasure"]["removed"]["events"] == 3
    assert erased(cli) is (code == 0)


def test_cli_erase_suppress(cli: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    # Rule: --suppress suppresses the identifiers (the question says so); later events naming
    # them are refused.
    monkeypatch.setattr("headwater.commands.privacy.interactive", lambda: True)
    code, out = run("privacy", "erase", *cli, "--user-id", ADA, "--suppress", input="y\n")
    assert code == 0, out
    assert out.splitlines()[1] == (
        "Erase everything stored about this person and suppress their identifiers? [y/N]: y"
    )
    assert json.loads(out.splitlines()[2])["erasure"]["removed"]["suppressed"] == 3
    store = open_store(Settings(database_url=cli[1]))
    try:
        project = store.find_project("acme", "web")
        assert project is not None
        items = [{"eventId": "n1", "profileId": P1}, {"eventId": "n2", "userId": BOB}]
        body = msgspec.json.encode({"track": [{"name": "Later", "payload": items}]})
        batch = parse_body(body, Context(project.id, None, "k", T + 20), Settings())
        [result] = store.write([batch])
    finally:
        store.close()
    assert result.accepted == 1
    assert [r.path for r in batch.refused] == ["track[0].payload[0].profileId"]
    assert erased(cli)


def test_cli_consent_require_and_required(cli: tuple[str, ...]) -> None:
    # Rule: `consent require` sets exactly the categories given (none: off) and prints them;
    # `consent required` prints one per line.
    assert run("consent", "required", *cli) == (0, "")
    assert run("consent", "require", *cli, "analytics") == (0, "required: analytics\n")
    assert run("consent", "required", *cli) == (0, "analytics\n")
    assert run("consent", "require", *cli, "marketing", "analytics", "marketing") == (
        0, "required: analytics, marketing\n",
    )  # fmt: skip
    assert run("consent", "required", *cli) == (0, "analytics\nmarketing\n")
    assert run("consent", "require", *cli) == (0, "required: none\n")
    assert run("consent", "required", *cli) == (0, "")
    code, out = run("consent", "require", "--database-url", cli[1], "--org", "acme",
                    "--project", "nope", "analytics")  # fmt: skip
    assert code == 1 and out == (
        "Error: project acme/nope not found; the store's projects: acme/web\n"
    )
