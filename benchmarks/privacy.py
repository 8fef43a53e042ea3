"""Privacy benchmark (issue 6): what the ingest gate costs, and how long erasures take.

    .venv/bin/python benchmarks/privacy.py                      # SQLite, about 2 minutes
    .venv/bin/python benchmarks/privacy.py --database-url postgresql://postgres@127.0.0.1/test

The people and events of benchmarks/profiles.py (two devices each, sessions, money), shuffled,
go through Headwater's ingest path without HTTP (parse, validate, `store.write` of 400 events,
what the server's group commit wrote in benchmarks/ingest.py) three times, each into a fresh
store, beside a floor measured in the same run (the same rows loaded straight into the events
table, 5,000 per transaction). On PostgreSQL each phase refreshes the statistics once a tenth
of the events are in, as autovacuum would (this machine runs with it off):

- plain: no consent requirement, nothing suppressed (the gate reads the project's policy);
- required: the project requires `analytics`; a fifth of the people recorded a consent first
  (half of them a reject, by userId or on one of their devices), so the gate resolves every
  batch's persons and their consent, and refuses the rejecters' events;
- suppressed: 1,000 erased identifiers are suppressed, so every batch's identifiers are
  checked against them.

Then, on the plain store: erasures of people by userId (identity resolution, deletes, and on
SQLite the rebuild of the identifier indexes and the WAL truncation), and exports.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import psycopg

from headwater.config import Settings
from headwater.consent import export
from headwater.consent.records import ConsentRecord
from headwater.identity.resolve import Caps
from headwater.ingest.normalize import parse_body
from headwater.model.event import Context, EventRow
from headwater.store.base import Store
from profiles import T0, database, floor_load, percentile, person_events

DAY = 86_400_000
COMMIT = 400  # events per write: what the server's group commit wrote in benchmarks/ingest.py


def analyze(where: str) -> None:
    """Refresh PostgreSQL's statistics (this machine runs with autovacuum off)."""
    if where.startswith("postgresql"):
        with psycopg.connect(where, autocommit=True) as pg:
            pg.execute("ANALYZE")


def load(
    store: Store, project_id: int, bodies: Sequence[bytes], analyze: Callable[[], None]
) -> tuple[float, int, int, list[EventRow]]:
    """(events/s, events stored, events refused, the rows) through parse, validate and
    write; `analyze` runs once a tenth of the bodies are in (autovacuum's default
    threshold: PostgreSQL plans need statistics)."""
    settings = Settings(max_items_per_request=COMMIT)
    ctx = Context(project_id, None, "bench", T0 + 60 * DAY)
    stored = refused = 0
    rows: list[EventRow] = []
    start = time.perf_counter()
    for n, body in enumerate(bodies):
        if n == len(bodies) // 10:
            analyze()
        batch = parse_body(body, ctx, settings)
        rows += batch.events
        [result] = store.write([batch])
        stored += result.accepted
        refused += len(batch.refused)
    return (stored + refused) / (time.perf_counter() - start), stored, refused, rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    people = args.events // args.per_person
    groups = [g for user in range(people) for g in person_events(rng, user, args.per_person)]
    rng.shuffle(groups)
    bodies = [msgspec.json.encode({"track": groups[at : at + COMMIT]})
              for at in range(0, len(groups), COMMIT)]  # fmt: skip
    out: dict[str, Any] = {"store": "postgres" if args.database_url else "sqlite",
                           "events": len(groups), "people": people}  # fmt: skip
    rows: list[EventRow] = []
    for phase in ("plain", "required", "suppressed"):
        with database(args.database_url, phase) as (store, where):
            project, _ = store.ensure_project("acme", "web", T0)
            if phase == "required":
                store.set_required_categories(project.id, ["analytics"], T0)
                for user in rng.sample(range(people), people // 5):
                    user_id, profile_id, source_id = (
                        (f"user-{user}", None, None)
                        if user % 2
                        else (None, f"prof_mob_{user}", "1")
                    )
                    action = "reject" if user % 4 < 2 else "accept"
                    record = ConsentRecord(
                        user_id, profile_id, source_id, "analytics", action, T0, None, {}
                    )
                    store.record_consent(project.id, record, T0, "bench")
            if phase == "suppressed":
                for n in range(1000):
                    store.erase_person(project.id, f"gone-{n}", None, Caps(), True, "bench", T0)
            rate, _, refused, loaded = load(store, project.id, bodies, lambda: analyze(where))
            out[f"{phase}_events_per_s"] = rate
            out[f"{phase}_refused"] = refused
            if phase != "plain":
                continue
            rows = loaded
            analyze(where)  # what autovacuum does soon after a bulk load
            sample = rng.sample(range(people), args.erasures * 2)
            export_ms, erase_ms = [], []
            for user in sample[: args.erasures]:
                start = time.perf_counter()
                size = sum(len(chunk) for chunk in export.export(
                    store, project.id, Caps(), 30 * 60_000, f"user-{user}", None, T0))  # fmt: skip
                export_ms.append((time.perf_counter() - start) * 1000)
                if size < 1000:
                    raise RuntimeError(f"export of user-{user} is too small: {size} bytes")
            for user in sample[args.erasures :]:
                start = time.perf_counter()
                _, report = store.erase_person(
                    project.id, f"user-{user}", None, Caps(), False, "bench", T0
                )
                erase_ms.append((time.perf_counter() - start) * 1000)
                if report["removed"]["events"] != args.per_person:
                    raise RuntimeError(f"erasure of user-{user} removed {report['removed']}")
            out |= {
                "export_p50_ms": statistics.median(export_ms),
                "export_max_ms": max(export_ms),
                "erase_p50_ms": statistics.median(erase_ms),
                "erase_p99_ms": percentile(erase_ms, 0.99),
                "erasures": len(erase_ms),
            }
    floor = floor_load(args.database_url, rows)
    out["floor_rows_per_s"] = floor
    for phase in ("plain", "required", "suppressed"):
        out[f"{phase}_ratio"] = out[f"{phase}_events_per_s"] / floor
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=300_000, help="events per phase [300000]")
    p.add_argument("--per-person", type=int, default=50, help="events per person [50]")
    p.add_argument("--erasures", type=int, default=20, help="people erased (and exported) [20]")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--database-url", help="PostgreSQL database to create (and drop) schemas in")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['store']}: {out['events']} events of {out['people']} people per phase")
    print(f"floor (straight insert)      {out['floor_rows_per_s']:>9,.0f} rows/s")
    for phase in ("plain", "required", "suppressed"):
        rate, ratio = out[f"{phase}_events_per_s"], out[f"{phase}_ratio"]
        refused = out[f"{phase}_refused"]
        print(f"ingest, {phase:<11}          {rate:>9,.0f} events/s  {ratio:6.1%} of floor"
              f"  ({refused} refused)")  # fmt: skip
    print(f"export    p50 {out['export_p50_ms']:8.1f} ms   max {out['export_max_ms']:8.1f} ms")
    print(f"erasure   p50 {out['erase_p50_ms']:8.1f} ms   p99 {out['erase_p99_ms']:8.1f} ms"
          f"   ({out['erasures']} people of {out['people']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
