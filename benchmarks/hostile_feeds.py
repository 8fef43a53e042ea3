"""Hostile JSON feeds: peak memory and time of `feeds.Feed` reading each one (issue 11,
findings 1 and 11).

    .venv/bin/python benchmarks/hostile_feeds.py                  # every case, 4 GiB cap
    .venv/bin/python benchmarks/hostile_feeds.py --cap-gib 8 --json

Each case runs in a fresh child process (`spawn`) whose address space is capped with
`RLIMIT_AS` (`--cap-gib`), so a parser that expands the feed is stopped by the kernel's
refusal (MemoryError) instead of taking the machine down. The child reads the feed through
`feeds.Feed` from an in-memory stream and reports its entries (index, path, error) or the
refusal; its peak RSS is `VmHWM` (`ru_maxrss` where /proc is missing), printed beside the
child's RSS before parsing (the interpreter and its imports, and the feed itself).

Cases: 100,001 `[` then 100,001 `]` (200 KB) and the same at depth 30,000 (60 KB), the
attack run's two; one product holding an object nested 100,000 levels deep beside a good
product; a product with a 20-digit integer, one with CESU-8 surrogate bytes, each beside a
good product.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

GOOD = b'{"id": "SKU-2", "title": "Cap", "description": "d", "url": "u", "image_link": "i"}'


def _deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _deep_product(depth: int) -> bytes:
    nest = b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"products": [{"id": "SKU-1", "deep": ' + nest + b"}, " + GOOD + b"]}"


CASES: dict[str, Callable[[], bytes]] = {
    "deep array 100,001 (200 KB)": lambda: _deep_array(100_001),
    "deep array 30,000 (60 KB)": lambda: _deep_array(30_000),
    "deep object in one product (100,000)": lambda: _deep_product(100_000),
    "20-digit integer": lambda: b'[{"id": "SKU-1", "gtin": 12345678901234567890}, ' + GOOD + b"]",
    "CESU-8 surrogate bytes": lambda: b'[{"id": "SKU-1", "title": "\xed\xa0\x80"}, ' + GOOD + b"]",
}


def peak_rss_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def parse_case(name: str, cap_bytes: int) -> dict[str, Any]:
    """Runs in the child: the case's feed through `feeds.Feed` under the address-space cap."""
    from headwater.catalog import feeds
    from headwater.config import Settings

    data = CASES[name]()
    baseline = peak_rss_kib()
    resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    start = time.perf_counter()
    entries: list[list[Any]] = []
    outcome = "read"
    try:
        for entry in feeds.Feed(io.BytesIO(data), None, Settings().max_product_bytes):
            entries.append([entry.index, entry.path, entry.field, entry.error])
    except MemoryError:
        outcome = "MemoryError (the address-space cap)"
    except RecursionError:
        outcome = "RecursionError"
    except feeds.FeedRefused as exc:
        outcome = f"refused: {exc.message}"
    except Exception as exc:  # what the server would have answered with a 500
        outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    seconds = time.perf_counter() - start
    return {
        "case": name,
        "feed_bytes": len(data),
        "outcome": outcome,
        "entries": [
            [i, path, field[:60], (error or "")[:160]] for i, path, field, error in entries
        ][:4],
        "seconds": seconds,
        "baseline_rss_mib": baseline / 1024,
        "peak_rss_mib": peak_rss_kib() / 1024,
    }


def in_child(name: str, cap_bytes: int) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            return pool.submit(parse_case, name, cap_bytes).result()
    except BrokenProcessPool:
        return {"case": name, "outcome": "the child died", "peak_rss_mib": float("nan")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cap-gib", type=float, default=4.0, help="address-space cap per child")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--case", action="append", choices=list(CASES), help="only these cases")
    args = p.parse_args(argv)
    cap = int(args.cap_gib * 2**30)
    results = [in_child(name, cap) for name in args.case or CASES]
    if args.json:
        print(json.dumps({"cap_gib": args.cap_gib, "results": results}, indent=2))
        return 0
    print(f"address-space cap per child: {args.cap_gib:g} GiB")
    for r in results:
        print(
            f"\n{r['case']}: {r.get('feed_bytes', 0):,} bytes, "
            f"{r.get('seconds', float('nan')):.2f} s, peak RSS {r['peak_rss_mib']:,.1f} MiB "
            f"(before parsing {r.get('baseline_rss_mib', float('nan')):,.1f} MiB)"
        )
        print(f"  {r['outcome']}")
        for index, path, field, error in r.get("entries", []):
            print(f"  [{index}] {path}{f' field {field}' if field else ''}: {error or 'ok'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
