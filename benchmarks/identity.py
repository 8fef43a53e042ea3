"""Identity benchmark (issue 11, finding 8): shared devices and people with many devices.

    .venv/bin/python benchmarks/identity.py                       # SQLite, a few minutes
    .venv/bin/python benchmarks/identity.py --database-url postgresql://postgres@127.0.0.1/test

A store where one kiosk profileId was linked first by its owner and then by 50,000 other
users (one `Identify` event each), and where one user linked 10,000 devices (all but
`max_profiles_per_person` of them refused). Through the library (no HTTP) it times, per
question, the median of a few runs:

- who a person is (`lookup.person_of`: load the deciding links, resolve) for the kiosk's
  owner, a later one-event user of the kiosk, and the user with 10,000 devices;
- the first page (100 decisions) of the kiosk owner's identity history, and all of it;
- the export (access request) of the kiosk owner and of the user with 10,000 devices.

The floor, measured in the same run: reading the person's first 100 events by userId.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from headwater.config import Settings
from headwater.consent import export
from headwater.identity.history import decode_key
from headwater.identity.resolve import Caps
from headwater.ingest.normalize import parse_body
from headwater.model.event import Context
from headwater.profiles import lookup
from headwater.store.base import EventQuery, Store
from profiles import T0, database

CAPS = Caps()


def load(store: Store, project_id: int, guests: int, devices: int) -> None:
    items = [{"eventId": "own", "profileId": "kiosk", "userId": "owner", "timestamp": T0}]
    items += [{"eventId": f"g{n}", "profileId": "kiosk", "userId": f"guest-{n}",
               "timestamp": T0 + 1000 + n} for n in range(guests)]  # fmt: skip
    items += [{"eventId": f"d{n}", "profileId": f"device-{n}", "userId": "collector",
               "timestamp": T0 + 1000 + n} for n in range(devices)]  # fmt: skip
    settings = Settings(max_items_per_request=2000)
    ctx = Context(project_id, None, "bench", T0 + 400 * 86_400_000)
    for at in range(0, len(items), 2000):
        body = msgspec.json.encode({"track": [{"name": "Identify",
                                               "payload": items[at : at + 2000]}]})  # fmt: skip
        store.write([parse_body(body, ctx, settings)])


def timed(run: Callable[[], object], times: int) -> float:
    """Median milliseconds of `times` runs."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def history(store: Store, project_id: int, person_id: str, everything: bool) -> int:
    """How many decisions the first page (or every page) of the history holds."""
    count, after = 0, None
    while True:
        page = lookup.history(store, project_id, CAPS, person_id, 100, after)
        count += len(page["history"])
        if not everything or page["next"] is None:
            return count
        after = decode_key(page["next"])


def exported(store: Store, project_id: int, user_id: str) -> int:
    """The bytes of the user's export, read to the end."""
    chunks = export.export(store, project_id, CAPS, 30 * 60_000, user_id, None, T0)
    return sum(len(chunk) for chunk in chunks)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"store": "postgres" if args.database_url else "sqlite",
                           "guests": args.guests, "devices": args.devices}  # fmt: skip
    with database(args.database_url, "identity") as (store, where):
        project, _ = store.ensure_project("acme", "web", T0)
        load(store, project.id, args.guests, args.devices)
        if args.database_url:
            import psycopg

            with psycopg.connect(where) as pg:
                pg.execute("ANALYZE")
        pid, n = project.id, args.times
        owner = lookup.person_of(store, pid, CAPS, "owner", None)[1]
        out["floor_ms"] = timed(
            lambda: store.query_events(EventQuery(pid, user_id="owner", limit=100)), n
        )
        for name, user in (("owner", "owner"), ("late_user", f"guest-{args.guests - 1}"),
                           ("collector", "collector")):  # fmt: skip
            out[f"person_{name}_ms"] = timed(functools.partial(
                lookup.person_of, store, pid, CAPS, user, None), n)  # fmt: skip
        out["history_first_page_ms"] = timed(lambda: history(store, pid, owner.id, False), n)
        out["history_all_ms"] = timed(lambda: history(store, pid, owner.id, True), 1)
        out["history_decisions"] = history(store, pid, owner.id, True)
        for name, user in (("owner", "owner"), ("collector", "collector")):
            out[f"export_{name}_ms"] = timed(functools.partial(exported, store, pid, user), 1)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--guests", type=int, default=50_000, help="later users of the kiosk [50000]")
    p.add_argument("--devices", type=int, default=10_000, help="devices of one user [10000]")
    p.add_argument("--times", type=int, default=5, help="runs per timing (median) [5]")
    p.add_argument("--database-url", help="PostgreSQL database to create (and drop) schemas in")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['store']}: a kiosk with {out['guests']:,} later users; a user with "
          f"{out['devices']:,} devices")  # fmt: skip
    for key, value in out.items():
        if key.endswith("_ms"):
            print(f"{key[:-3]:<24} {value:10.1f} ms")
    print(f"history decisions        {out['history_decisions']:10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
