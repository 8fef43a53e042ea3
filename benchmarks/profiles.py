"""Profiles benchmark (issue 4): a store with 1,000,000 events of 20,000 people, then
profile lookups by userId and by profileId.

    .venv/bin/python benchmarks/profiles.py                       # SQLite, about 2 minutes
    .venv/bin/python benchmarks/profiles.py --database-url postgresql://postgres@127.0.0.1/test

It prints, each beside a floor measured in the same run:
- ingest: events/s through Headwater's ingest path without HTTP (parse and validate, then
  `store.write`: dedup insert plus identity links), against the same rows loaded straight into
  the same tables (SQLite: the store's `insert_events`; PostgreSQL: COPY);
- lookup: p50/p99 latency of a full profile (identity resolution, attributes, computed values,
  sessions), against the floor of just reading the same person's events by userId. On
  PostgreSQL the tables are ANALYZEd after the load, as autovacuum would do.

Every person has two devices (web, mobile) linked by Identify events, page views in sessions,
attribute updates, charges and refunds, and orders; events arrive shuffled.

Then, in a project of their own (issue 11), the shapes that used to make reads slow:
- a kiosk: one profileId first linked to its owner, then used by `--kiosk-users` (5,000) other
  users with `--kiosk-events` (100) events each, plus its own anonymous events;
- a person with the most identifiers: `--max-ids` (100) userIds joined by aliases and as many
  profileIds, with events on each.
For each it prints lookup and timeline (first page of 100) p50/p99; apart, the identity part
of both (`person_of`) and their events part (a lookup's read and fold of the person's events,
a timeline's page query); against the floor of reading the same person's events by one
userId (all of them, and a page of 100).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from headwater.config import Settings
from headwater.identity.resolve import Caps
from headwater.ingest.normalize import parse_body
from headwater.model.event import STORED_COLUMNS, Context, EventRow, stored
from headwater.profiles import lookup
from headwater.store.base import EventQuery, Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore, connect_writer, insert_events

T0 = 1_790_000_000_000
DAY = 86_400_000
BATCH = 5_000
TARGET_INGEST_RATIO = 0.40
TARGET_SHAPE_P99_MS = 10  # issue 11, on SQLite


def person_events(rng: random.Random, user: int, per_person: int) -> Iterator[dict[str, Any]]:
    """One person's events as (name, item) track groups: 2 devices, sessions, money."""
    uid, web, mobile = f"user-{user}", f"prof_web_{user}", f"prof_mob_{user}"
    t = T0 + rng.randrange(30 * DAY)

    def group(name: str, **item: Any) -> dict[str, Any]:
        nonlocal t
        t += rng.randrange(1_000, 600_000)
        return {"name": name, "payload": [{"eventId": str(uuid.UUID(int=rng.getrandbits(128))),
                                           "timestamp": t, **item}]}  # fmt: skip

    attrs = {"plan": rng.choice(["free", "pro"]), "country": rng.choice(["NO", "IT", "US"])}
    yield group("Identify", profileId=web, userId=uid, userAttributes=attrs)
    yield group("Identify", profileId=mobile, userId=uid)
    session = f"ses_{user}_0"
    for n in range(per_person - 7):
        if n % 10 == 0:
            session = f"ses_{user}_{n}"
        yield group("View Page", profileId=rng.choice((web, mobile)), sessionId=session,
                    data={"url": f"https://shop.example/p/{rng.randrange(500)}"})  # fmt: skip
    yield group("Upgraded", userId=uid, userAttributes={"plan": "pro"})
    yield group("Charge", userId=uid, data={"amount": 40, "status": "succeeded"})
    yield group("Charge", userId=uid, data={"amount": 10, "status": "refunded"})
    yield group("Product ordered", userId=uid, data={"productId": f"sku-{rng.randrange(99)}"})
    yield group("Settings", userId=uid, userAttributes={"country": None})


@contextmanager
def database(base_url: str | None, name: str) -> Iterator[tuple[Store, str]]:
    """A fresh store and where it is: a SQLite file, or a new schema in the PostgreSQL
    database given (its URL)."""
    if base_url is None:
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / f"{name}.db")
            store: Store = SQLiteStore(path)
            store.migrate()
            yield store, path
            store.close()
        return
    schema = f"headwater_bench_profiles_{name}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base_url else "?"
    url = f"{base_url}{joiner}options=-csearch_path%3D{schema}"
    store = PostgresStore(url)
    try:
        store.migrate()
        yield store, url
    finally:
        store.close()
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def kiosk_events(users: int, each: int) -> Iterator[dict[str, Any]]:
    """A kiosk's track groups, in time order: its owner's link first, its own anonymous
    events, then its users'."""
    t = T0

    def group(name: str, **item: Any) -> dict[str, Any]:
        nonlocal t
        t += 1_000
        return {"name": name, "payload": [{"eventId": f"k{t}", "timestamp": t, **item}]}

    yield group("Identify", profileId="kiosk", userId="kiosk-owner",
                userAttributes={"role": "owner"})  # fmt: skip
    for n in range(100):
        yield group("View Page", userId="kiosk-owner", sessionId=f"own-{n // 10}",
                    data={"url": f"https://shop.example/o/{n}"})  # fmt: skip
    for n in range(50):
        yield group("View Page", profileId="kiosk", data={"url": f"https://shop.example/{n}"})
    for user in range(users):
        uid = f"kiosk-user-{user}"
        yield group("Identify", profileId="kiosk", userId=uid, userAttributes={"n": user})
        for n in range(each - 1):
            yield group("View Page", profileId="kiosk", userId=uid, sessionId=f"{uid}-s",
                        data={"url": f"https://shop.example/p/{n}"})  # fmt: skip


def widest_person(ids: int, each: int) -> Iterator[dict[str, Any]]:
    """A person with `ids` userIds (aliases of the first) and `ids` profileIds."""
    t = T0

    def group(name: str, **item: Any) -> dict[str, Any]:
        nonlocal t
        t += 1_000
        return {"name": name, "payload": [{"eventId": f"w{t}", "timestamp": t, **item}]}

    for i in range(1, ids):
        yield group("Identify", userId="wide-0", anotherUserId=f"wide-{i}")
    for i in range(ids):
        yield group("Identify", profileId=f"wide-dev-{i}", userId=f"wide-{i}",
                    userAttributes={"plan": f"p{i % 3}"})  # fmt: skip
        for n in range(each):
            yield group("View Page", userId=f"wide-{i}", data={"url": f"https://x.example/{n}"})
            yield group("View Page", profileId=f"wide-dev-{i}", sessionId=f"wd-{i}")


def timed(samples: int, call: Any) -> list[float]:
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def shapes(store: Store, where: str, args: argparse.Namespace) -> dict[str, Any]:
    """The kiosk and the widest person (issue 11): lookup and timeline beside their floors."""
    project, _ = store.ensure_project("acme", "shapes", T0)
    settings = Settings(max_items_per_request=BATCH)
    ctx = Context(project.id, None, "bench", T0 + 60 * DAY)
    groups = [*kiosk_events(args.kiosk_users, args.kiosk_events),
              *widest_person(args.max_ids, 5)]  # fmt: skip
    for at in range(0, len(groups), BATCH):
        batch = parse_body(msgspec.json.encode({"track": groups[at : at + BATCH]}), ctx, settings)
        if batch.rejected:
            raise RuntimeError(f"rejected: {batch.rejected[:3]}")
        store.write([batch])
    if args.database_url:
        with psycopg.connect(where) as pg:
            pg.execute("ANALYZE")
    out: dict[str, Any] = {"shapes_events": len(groups)}
    n = args.shape_lookups
    cases = {  # name → (userId asked, the person's events as the floor reads them)
        "kiosk_owner": "kiosk-owner",
        "kiosk_later_user": f"kiosk-user-{args.kiosk_users // 2}",
        "widest": "wide-0",
    }
    for name, user in cases.items():
        person = lookup.profile(store, project.id, Caps(), user_id=user)
        expected = {"kiosk_owner": 151, "kiosk_later_user": args.kiosk_events,
                    "widest": args.max_ids * 12 - 1}[name]  # fmt: skip
        if person["computed"]["event_count"] != expected:
            raise RuntimeError(f"{name}: {person['computed']} (expected {expected} events)")
        pid = person["id"]
        floor_all = timed(n, lambda u=user: store.query_events(
            EventQuery(project.id, user_id=u, limit=1000)))  # fmt: skip
        floor_page = timed(n, lambda u=user: store.query_events(
            EventQuery(project.id, user_id=u, limit=100)))  # fmt: skip
        whole = timed(n, lambda u=user: lookup.profile(store, project.id, Caps(), user_id=u))
        identity = timed(n, lambda u=user: lookup.person_of(store, project.id, Caps(), u, None))
        _, found = lookup.person_of(store, project.id, Caps(), user, None)
        folds = timed(n, lambda f=found: lookup.activity_of(store, project.id, f, 30 * 60_000,
                                                            10).view())  # fmt: skip
        page = timed(n, lambda p=pid: lookup.timeline(store, project.id, Caps(), p, 100, None,
                                                      False))  # fmt: skip
        page_events = timed(n, lambda f=found: store.query_events(
            lookup.person_events(project.id, f, limit=101)))  # fmt: skip
        for label, samples in (
            ("lookup", whole), ("identity", identity), ("lookup_events", folds),
            ("timeline", page), ("timeline_events", page_events), ("floor_all", floor_all),
            ("floor_page", floor_page),
        ):  # fmt: skip
            out[f"{name}_{label}_p50_ms"] = statistics.median(samples)
            out[f"{name}_{label}_p99_ms"] = percentile(samples, 0.99)
    if args.by_device:
        out["kiosk_by_device_p99_ms"] = percentile(timed(n, lambda: lookup.profile(
            store, project.id, Caps(), profile_id="kiosk")), 0.99)  # fmt: skip
    return out


def floor_load(base_url: str | None, rows: Sequence[EventRow]) -> float:
    """Rows/s of the same rows loaded straight into the events table."""
    with database(base_url, "floor") as (store, where):
        project, _ = store.ensure_project("acme", "web", T0)
        rows = [r._replace(project_id=project.id) for r in rows]
        start = time.perf_counter()
        if base_url is None:
            conn = connect_writer(where)
            for at in range(0, len(rows), BATCH):
                conn.execute("BEGIN IMMEDIATE")
                insert_events(conn, rows[at : at + BATCH])
                conn.execute("COMMIT")
            conn.close()
        else:
            copy_sql = f"COPY events ({', '.join(STORED_COLUMNS)}) FROM STDIN"  # as the store
            with psycopg.connect(where) as pg:
                for at in range(0, len(rows), BATCH):
                    with pg.transaction(), pg.cursor() as cur, cur.copy(copy_sql) as copy:
                        for row in rows[at : at + BATCH]:
                            copy.write_row(stored(row))
        return len(rows) / (time.perf_counter() - start)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    people = args.events // args.per_person
    groups = [g for user in range(people) for g in person_events(rng, user, args.per_person)]
    rng.shuffle(groups)
    settings = Settings(max_items_per_request=BATCH)
    received = T0 + 60 * DAY
    with database(args.database_url, "server") as (store, where):
        project, _ = store.ensure_project("acme", "web", T0)
        for name, strategy in (("plan", "latest"), ("country", "first")):
            store.set_attribute_strategy(project.id, name, strategy, T0)
        ctx = Context(project.id, None, "bench", received)
        bodies = [msgspec.json.encode({"track": groups[at : at + BATCH]})
                  for at in range(0, len(groups), BATCH)]  # fmt: skip
        rows: list[EventRow] = []
        start = time.perf_counter()
        for body in bodies:  # the ingest path minus HTTP: parse, validate, write with links
            batch = parse_body(body, ctx, settings)
            store.write([batch])
            rows += batch.events
        ingest_rate = len(rows) / (time.perf_counter() - start)
        if args.database_url:  # what autovacuum does soon after a bulk load: fresh statistics
            with psycopg.connect(where) as pg:
                pg.execute("ANALYZE")

        sample = rng.sample(range(people), min(args.lookups, people))
        floor_ms, profile_ms, device_ms = [], [], []
        for user in sample:
            t = time.perf_counter()
            store.query_events(EventQuery(project.id, user_id=f"user-{user}", limit=1000))
            floor_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            person = lookup.profile(store, project.id, Caps(), user_id=f"user-{user}")
            profile_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lookup.profile(store, project.id, Caps(), profile_id=f"prof_mob_{user}")
            device_ms.append((time.perf_counter() - t) * 1000)
            if len(person["profileIds"]) != 2 or person["computed"]["ltv"] != 30:
                raise RuntimeError(f"wrong profile for user-{user}: {person}")
        shaped = shapes(store, where, args) if args.kiosk_users else {}
    floor_rate = floor_load(args.database_url, rows)
    return {
        **shaped,
        "store": "postgres" if args.database_url else "sqlite",
        "events": len(rows),
        "people": people,
        "ingest_events_per_s": ingest_rate,
        "floor_rows_per_s": floor_rate,
        "ingest_ratio": ingest_rate / floor_rate,
        "lookups": len(sample),
        "lookup_by_user_p50_ms": statistics.median(profile_ms),
        "lookup_by_user_p99_ms": percentile(profile_ms, 0.99),
        "lookup_by_device_p50_ms": statistics.median(device_ms),
        "lookup_by_device_p99_ms": percentile(device_ms, 0.99),
        "floor_read_p50_ms": statistics.median(floor_ms),
        "floor_read_p99_ms": percentile(floor_ms, 0.99),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000, help="events to store [1000000]")
    p.add_argument("--per-person", type=int, default=50, help="events per person [50]")
    p.add_argument("--lookups", type=int, default=500, help="people looked up [500]")
    p.add_argument(
        "--kiosk-users",
        type=int,
        default=5_000,
        help="users of the kiosk profileId [5000]; 0 skips the kiosk and widest person",
    )
    p.add_argument("--kiosk-events", type=int, default=100, help="events per kiosk user [100]")
    p.add_argument(
        "--max-ids", type=int, default=100, help="userIds and profileIds of the widest person [100]"
    )
    p.add_argument(
        "--shape-lookups",
        type=int,
        default=200,
        help="samples per kiosk / widest-person measurement [200]",
    )
    p.add_argument("--by-device", action="store_true", help="also look the kiosk up by profileId")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", help="PostgreSQL database to create (and drop) schemas in")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:26} {value:,.2f}" if isinstance(value, float) else f"{key:26} {value}")
        met = out["ingest_ratio"] >= TARGET_INGEST_RATIO
        print(f"ingest with identity / floor: {out['ingest_ratio']:.1%} "
              f"(target >= {TARGET_INGEST_RATIO:.0%}: {'met' if met else 'NOT met'})")  # fmt: skip
        for case in ("kiosk_owner", "kiosk_later_user", "widest"):
            for read in ("lookup", "timeline"):
                p99 = out.get(f"{case}_{read}_p99_ms")
                if p99 is not None:
                    verdict = "met" if p99 < TARGET_SHAPE_P99_MS else "NOT met"
                    print(f"{case} {read} p99: {p99:.2f} ms (target < {TARGET_SHAPE_P99_MS} ms"
                          f"{' on SQLite' if args.database_url else ''}: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
