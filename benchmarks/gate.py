"""Consent gate benchmark (issue 11, finding 5): one user links ever more new devices.

    .venv/bin/python benchmarks/gate.py                       # SQLite, about a minute
    .venv/bin/python benchmarks/gate.py --database-url postgresql://postgres@127.0.0.1/test

The finding's scenario: the project requires the `analytics` consent category and the user
accepted it; batches of 500 `Identify` items each link a new device (profileId) to that one
user, through Headwater's ingest path without HTTP (parse, validate, `store.write`), until the
user has linked 10,000 devices. With the default `max_profiles_per_person` (100) the first
100 devices join the person and every later one is refused (an anonymous person of its own),
so each item's person is the same user's and the gate has to decide every item in order.

The floor is measured in the same run: the same batches written into a fresh store whose
project requires nothing (the gate reads the policy and stops). The cost of deciding should
not grow with the devices already linked: the ratio of the last batches' time to the first
ones' stays near 1. On PostgreSQL the statistics are refreshed as autovacuum's default
would (once 50 rows plus a tenth of the table changed; this machine runs with it off).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from headwater.config import Settings
from headwater.consent.records import ConsentRecord
from headwater.ingest.normalize import parse_body
from headwater.model.event import Context
from privacy import analyze
from profiles import T0, database

USER = "user-1"


def bodies(devices: int, per_batch: int) -> list[bytes]:
    """Track bodies of `per_batch` groups, each linking a new device to USER, in time order."""
    out = []
    for start in range(0, devices, per_batch):
        groups = [
            {"name": "Identify", "payload": [{
                "eventId": str(uuid.UUID(int=n)), "timestamp": T0 + n * 1000,
                "profileId": f"device-{n}", "userId": USER}]}
            for n in range(start, min(devices, start + per_batch))
        ]  # fmt: skip
        out.append(msgspec.json.encode({"track": groups}))
    return out


def phase(
    base_url: str | None, name: str, required: bool, payloads: list[bytes], per_batch: int
) -> list[float]:
    """Milliseconds per `store.write` of each body, into a fresh store."""
    with database(base_url, name) as (store, where):
        project, _ = store.ensure_project("acme", "web", T0)
        if required:
            store.set_required_categories(project.id, ["analytics"], T0)
            record = ConsentRecord(USER, None, None, "analytics", "accept", T0, None, {})
            store.record_consent(project.id, record, T0, "bench")
        settings = Settings(max_items_per_request=per_batch)
        ctx = Context(project.id, None, "bench", T0 + 400 * 86_400_000)
        times = []
        rows = changed = 0
        for body in payloads:
            if base_url is not None and changed >= 50 + rows // 10:
                analyze(where)
                changed = 0
            batch = parse_body(body, ctx, settings)
            start = time.perf_counter()
            [result] = store.write([batch])
            times.append((time.perf_counter() - start) * 1000)
            if batch.refused or result.accepted != len(batch.events):
                raise RuntimeError(f"{len(batch.refused)} refused, {result} in phase {name}")
            rows += 2 * result.accepted  # events and identity links
            changed += 2 * result.accepted
        return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    payloads = bodies(args.devices, args.batch)
    floor = phase(args.database_url, "gate_floor", False, payloads, args.batch)
    gated = phase(args.database_url, "gate_required", True, payloads, args.batch)
    edge = max(1, len(payloads) // 5)  # the first and last fifths of the batches
    return {
        "store": "postgres" if args.database_url else "sqlite",
        "devices": args.devices,
        "batch": args.batch,
        "floor_ms": floor,
        "required_ms": gated,
        "first_fifth_ms": statistics.median(gated[:edge]),
        "last_fifth_ms": statistics.median(gated[-edge:]),
        "growth": statistics.median(gated[-edge:]) / statistics.median(gated[:edge]),
        "ratio_to_floor_last": statistics.median(gated[-edge:]) / statistics.median(floor[-edge:]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=10_000, help="devices linked in all [10000]")
    p.add_argument("--batch", type=int, default=500, help="items per write [500]")
    p.add_argument("--database-url", help="PostgreSQL database to create (and drop) schemas in")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['store']}: {out['devices']} devices linked to one user, {out['batch']} per write")
    print("devices before   floor ms   consent required ms")
    step = max(1, len(out["required_ms"]) // 10)
    for n in [*range(0, len(out["required_ms"]), step), len(out["required_ms"]) - 1]:
        floor, gated = out["floor_ms"][n], out["required_ms"][n]
        print(f"{n * out['batch']:>14,}   {floor:8.1f}   {gated:10.1f}")
    print(f"growth (last fifth / first fifth of the batches): {out['growth']:.2f}x; "
          f"last fifth vs floor: {out['ratio_to_floor_last']:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
