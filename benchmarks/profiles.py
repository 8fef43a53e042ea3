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
from headwater.model.event import EVENT_COLUMNS, Context, EventRow
from headwater.profiles import lookup
from headwater.store.base import EventQuery, Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore, connect_writer, insert_events

T0 = 1_790_000_000_000
DAY = 86_400_000
BATCH = 5_000
TARGET_INGEST_RATIO = 0.40


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
            copy_sql = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
            with psycopg.connect(where) as pg:
                for at in range(0, len(rows), BATCH):
                    with pg.transaction(), pg.cursor() as cur, cur.copy(copy_sql) as copy:
                        for row in rows[at : at + BATCH]:
                            copy.write_row(row)
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
    floor_rate = floor_load(args.database_url, rows)
    return {
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
