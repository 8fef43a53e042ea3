"""Catalog import benchmark: products/s and peak RSS importing 1,000,000-product JSON and XML
feeds, each beside a floor measured in the same run.

    .venv/bin/python benchmarks/catalog.py                 # SQLite, 1,000,000 products
    .venv/bin/python benchmarks/catalog.py --quick         # 100,000 products
    .venv/bin/python benchmarks/catalog.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/catalog.py --quick --json --formats json
    .venv/bin/python benchmarks/catalog.py --quick --profile /tmp/catalog-prof   # cProfile

First it writes the feeds to a temporary folder (or `--feed-dir`, where they are reused),
streaming, never holding a whole feed in memory: JSON `{"products": [{"product": {...}}]}`
and catalog XML `<catalog><products><product>…`, the same products in both. Each product has
the schema's fields (id, title, a 100-300 character description, url, image_link, price as
"19.99 USD" or a number (XML: `<price currency="EUR">`), brand, category (a list), tags,
availability, rating) and one or two extra attributes (color, size, material, gtin, …).

Then, per format, three phases, each in a fresh child process (multiprocessing, spawn), so
each phase's peak RSS (the child's VmHWM) is its own:

  floor     the same file parsed by the same parser with nothing done per product:
            `for entry in feeds.Feed(open(path, "rb"), fmt, max_product_bytes): pass`;
  import    `run_import` of the feed into a fresh store (a new SQLite file, or a new schema
            in the PostgreSQL database of `--database-url`, dropped at the end);
  re-import the same feed imported again into that store: every product unchanged (the
            nightly-sync case; `--full` makes it a full sync that flags unseen products).

Products/s are shown beside the floor's (the ratio; "(cpu)" is the same ratio by the child's
CPU time, steadier on a shared machine, while wall time also counts waits on the disk and on
PostgreSQL). The commit and src/ tree are printed, and flagged when src/ changed during the
run (each child imports the code as it is when it starts). The run fails (exit 1) unless every
import completed, the first created exactly N products, the re-import found N unchanged,
nothing was rejected or removed, and the store holds N products. Settings are the defaults
(`max_product_bytes`, `max_string_length` as the id limit, SQLite `synchronous` FULL). For
PostgreSQL the peak RSS is the importing process's only, not the database server's.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import psycopg

from headwater.catalog import feeds
from headwater.catalog.imports import run_import
from headwater.config import Settings
from headwater.store.base import Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore

T0 = 1_790_000_000_000
WRITE_BATCH = 2_000  # products per write to the feed file
FORMATS = ("json", "xml")

# -- products ------------------------------------------------------------------------------

BRANDS = ("Northwind", "Acme", "Fjordline", "Smith & Sons", "Lumen", "Oakridge", "Kavo",
          "Bellwether", "Tidewater", "Marlow", "Ostara", "Sundial", "Vireo")  # fmt: skip
ADJECTIVES = ("Classic", "Ultralight", "Organic", "Waterproof", "Compact", "Premium", "Everyday",
              "Insulated", "Wireless", "Vintage", "Recycled", "Foldable", "Ergonomic")  # fmt: skip
NOUNS = ("Backpack", "Rain Jacket", "Coffee Grinder", "Desk Lamp", "Running Shoe", "Water Bottle",
         "Headphones", "Chef's Knife", "Wool Sweater", "Yoga Mat", "Tent", "Cast Iron Skillet",
         "Office Chair", "Travel Mug", "Sunglasses", "Bluetooth Speaker")  # fmt: skip
DEPARTMENTS = {
    "Outdoors": ("Camping", "Hiking", "Climbing", "Water Sports"),
    "Home & Kitchen": ("Cookware", "Coffee & Tea", "Lighting", "Storage"),
    "Apparel": ("Outerwear", "Knitwear", "Footwear", "Accessories"),
    "Electronics": ("Audio", "Wearables", "Chargers", "Smart Home"),
    "Sports": ("Fitness", "Yoga", "Running", "Cycling"),
}
TAGS = ("new", "bestseller", "eco", "sale", "gift", "limited", "bundle", "clearance",
        "staff-pick", "vegan", "handmade", "imported", "free-shipping")  # fmt: skip
AVAILABILITY = ("in_stock",) * 6 + ("out_of_stock", "preorder", "backorder")
COLORS = ("black", "navy", "forest green", "sand", "charcoal", "red", "white", "ochre")
SIZES = ("XS", "S", "M", "L", "XL", "one size")
MATERIALS = ("cotton", "merino wool", "stainless steel", "recycled polyester", "oak", "leather")
SENTENCES = (
    "Built to last with reinforced seams and a lifetime warranty.",
    "Designed in Oslo and tested in the field by our own team for a full season.",
    "Care & cleaning: wipe with a damp cloth; do not put it in the dishwasher.",
    "Ships in plastic-free packaging made from 100% recycled cardboard.",
    "A favourite of customers who want something simple that just works.",
    "Pairs well with the rest of the collection, sold separately.",
    "Lightweight enough for every day, tough enough for the weekend.",
    "Each piece is inspected by hand before it leaves the workshop.",
    "Free returns within 30 days if it is not quite right for you.",
    "Certified <OEKO-TEX> Standard 100: tested for harmful substances.",
    "Fits in a carry-on; weighs less than most of the alternatives.",
    "Now with an improved grip and a softer, quieter finish.",
)


def product(rng: random.Random, i: int) -> dict[str, Any]:
    """One realistic product (JSON shape); deterministic for (rng state, i)."""
    brand, adjective, noun = rng.choice(BRANDS), rng.choice(ADJECTIVES), rng.choice(NOUNS)
    title = f"{brand} {adjective} {noun}, {rng.choice(COLORS)}"
    target = rng.randint(100, 300)
    description = f"The {adjective.lower()} {noun.lower()} from {brand}."
    while len(description) < target:
        description += " " + rng.choice(SENTENCES)
    slug = f"{adjective}-{noun}".lower().replace(" ", "-").replace("'", "")
    department = rng.choice(tuple(DEPARTMENTS))
    amount = rng.randrange(199, 99_999) / 100
    doc: dict[str, Any] = {
        "id": f"SKU-{i:07d}",
        "title": title,
        "description": description[:target].rpartition(" ")[0],  # cut at a word
        "url": f"https://shop.example.com/p/{slug}-{i}",
        "image_link": f"https://cdn.shop.example.com/img/{i % 997:03d}/{i}-main.jpg",
        "price": f"{amount:.2f} USD" if i % 2 else amount,
        "brand": brand,
        "category": [department, f"{department} > {rng.choice(DEPARTMENTS[department])}"],
        "tags": rng.sample(TAGS, rng.randint(1, 4)),
        "availability": rng.choice(AVAILABILITY),
        "rating": rng.randrange(10, 51) / 10,
    }
    extras: dict[str, Any] = {
        "color": rng.choice(COLORS),
        "size": rng.choice(SIZES),
        "material": rng.choice(MATERIALS),
        "gtin": f"0{rng.randrange(10**12):012d}",
    }
    for name in rng.sample(tuple(extras), rng.randint(1, 2)):
        doc[name] = extras[name]
    return doc


def products(count: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield product(rng, i)


def _xml_product(doc: dict[str, Any], i: int) -> str:
    parts = ["<product>"]
    for name, value in doc.items():
        if name == "price":
            if isinstance(value, str):
                parts.append(f"<price>{escape(value)}</price>")
            else:  # the currency as an attribute, as many catalog exports do
                parts.append(f"<price currency={quoteattr('EUR')}>{value:.2f}</price>")
        elif name == "category":
            parts += [f"<category>{escape(c)}</category>" for c in value]
        elif name == "tags":
            parts.append("<tags>" + "".join(f"<tag>{escape(t)}</tag>" for t in value) + "</tags>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    parts.append("</product>\n")
    return "".join(parts)


def write_feed(path: Path, fmt: str, count: int, seed: int) -> None:
    """Write the feed a batch of products at a time: memory stays flat."""
    with path.open("w", encoding="utf-8") as out:
        out.write('{"products": [\n' if fmt == "json" else "<?xml version='1.0'?>\n")
        if fmt == "xml":
            out.write(f"<catalog generated={quoteattr(str(T0))}><products>\n")
        batch: list[str] = []
        for i, doc in enumerate(products(count, seed)):
            if fmt == "json":
                sep = ",\n" if i else ""
                batch.append(sep + json.dumps({"product": doc}, ensure_ascii=False))
            else:
                batch.append(_xml_product(doc, i))
            if len(batch) == WRITE_BATCH:
                out.writelines(batch)
                batch.clear()
        out.writelines(batch)
        out.write("\n]}\n" if fmt == "json" else "</products></catalog>\n")


def feed_file(folder: Path, fmt: str, count: int, seed: int) -> tuple[Path, float]:
    """The feed's path and how long writing it took (0 when an earlier one was reused)."""
    path = folder / f"catalog-{count}-{seed}.{fmt}"
    if path.exists():
        return path, 0.0
    start = time.perf_counter()
    partial = path.with_suffix(f".{fmt}.partial")
    write_feed(partial, fmt, count, seed)
    partial.rename(path)
    return path, time.perf_counter() - start


# -- phases, each run in a child process ----------------------------------------------------


def peak_rss_kib() -> int:
    """This process's peak resident set: VmHWM (reset by exec, so a spawned child does not
    inherit its parent's), else ru_maxrss."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def floor_phase(path: str, fmt: str, max_product_bytes: int) -> dict[str, Any]:
    """The parser alone: every product read, nothing done with it."""
    baseline = peak_rss_kib()
    cpu, start = time.process_time(), time.perf_counter()
    entry = None
    with open(path, "rb") as stream:
        for entry in feeds.Feed(stream, fmt, max_product_bytes):  # noqa: B007 (last one counts)
            pass
    seconds = time.perf_counter() - start
    return {
        "products": 0 if entry is None else entry.index + 1,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "baseline_rss_mib": baseline / 1024,
        "peak_rss_mib": peak_rss_kib() / 1024,
    }


def open_store(where: str, synchronous: str) -> Store:
    if where.startswith("postgresql://"):
        return PostgresStore(where, max_size=2)
    return SQLiteStore(where, synchronous)


def import_phase(
    where: str,
    synchronous: str,
    project_id: int,
    path: str,
    fmt: str,
    full: bool,
    settings: tuple[int, int],
    profile_to: str | None,
) -> dict[str, Any]:
    """`run_import` of the feed at `path` into the store at `where`."""
    max_product_bytes, max_id_length = settings
    store = open_store(where, synchronous)
    try:
        baseline = peak_rss_kib()
        profiler = cProfile.Profile() if profile_to else None
        cpu, start = time.process_time(), time.perf_counter()
        with open(path, "rb") as stream:
            if profiler is not None:
                profiler.enable()
            record = run_import(
                store, project_id, stream, fmt=fmt, full=full, source=path, key_prefix="bench",
                max_product_bytes=max_product_bytes, max_id_length=max_id_length,
            )  # fmt: skip
            if profiler is not None:
                profiler.disable()
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
    finally:
        store.close()
    if profiler is not None and profile_to:
        profiler.dump_stats(profile_to)
    return {
        "products": record.created + record.updated + record.unchanged + record.rejected,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "baseline_rss_mib": baseline / 1024,
        "peak_rss_mib": peak_rss_kib() / 1024,
        "status": record.status,
        "error": record.error,
        "created": record.created,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "removed": record.removed,
        "rejected": record.rejected,
    }


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`fn(*args)` in a new spawned process, so the phase's peak RSS is its own."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(fn, *args).result()


# -- stores --------------------------------------------------------------------------------


class Stores:
    """Fresh stores, one per format: SQLite files in a temporary folder, or new schemas in the
    PostgreSQL database of `--database-url` (dropped by `remove`)."""

    def __init__(self, base_url: str | None, tmp: Path, synchronous: str) -> None:
        self.base_url = base_url
        self.tmp = tmp
        self.synchronous = synchronous
        self.schemas: list[str] = []

    def create(self, name: str) -> tuple[str, int]:
        """A new, migrated store with one project: (where, project id)."""
        if self.base_url is None:
            where = str(self.tmp / f"{name}.db")
        else:
            schema = f"bench_catalog_{os.getpid()}_{name}"
            with psycopg.connect(self.base_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                conn.execute(f'CREATE SCHEMA "{schema}"')
            self.schemas.append(schema)
            joiner = "&" if "?" in self.base_url else "?"
            where = f"{self.base_url}{joiner}options=-csearch_path%3D{schema}"
        store = open_store(where, self.synchronous)
        try:
            store.migrate()
            project, _ = store.ensure_project("acme", "shop", T0)
        finally:
            store.close()
        return where, project.id

    def stored(self, where: str, project_id: int) -> tuple[int, float]:
        """(products in the store, the database's size in MiB)."""
        sql = "SELECT count(*) FROM products WHERE project_id = "
        if self.base_url is None:
            conn = sqlite3.connect(f"file:{where}?mode=ro", uri=True)
            try:
                (count,) = conn.execute(sql + "?", (project_id,)).fetchone()
            finally:
                conn.close()
            size = sum(p.stat().st_size for p in Path(where).parent.glob(Path(where).name + "*"))
            return count, size / 2**20
        with psycopg.connect(where) as pg:
            row = pg.execute(sql + "%s", (project_id,)).fetchone()
            size_row = pg.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            ).fetchone()
        assert row is not None and size_row is not None
        return int(row[0]), float(size_row[0] or 0) / 2**20

    def remove(self) -> None:
        if self.base_url is not None:
            with psycopg.connect(self.base_url, autocommit=True) as conn:
                for schema in self.schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- the run -------------------------------------------------------------------------------


def source_version() -> dict[str, str]:
    """The checkout's commit and the git tree of src/ (`+dirty` when src/ has uncommitted
    changes): each phase's child imports the code as it is when the child starts."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args],
                              capture_output=True, text=True, check=True, timeout=10)  # fmt: skip
        return done.stdout.strip()

    try:
        dirty = "+dirty" if git("status", "--porcelain", "--", "src") else ""
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "src_tree": git("rev-parse", "--short", "HEAD:src") + dirty}  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "src_tree": "unknown"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    limits = (settings.max_product_bytes, settings.max_string_length)
    tmp = Path(tempfile.mkdtemp(prefix="headwater-bench-catalog-"))
    feed_dir = Path(args.feed_dir) if args.feed_dir else tmp
    feed_dir.mkdir(parents=True, exist_ok=True)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    stores = Stores(args.database_url, tmp, settings.sqlite_synchronous)
    n = args.products
    version = source_version()
    feeds_out: dict[str, Any] = {}
    phases: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    try:
        for fmt in args.formats:
            path, wrote = feed_file(feed_dir, fmt, n, args.seed)
            feeds_out[fmt] = {"mib": path.stat().st_size / 2**20, "write_seconds": wrote}
            log(args, f"{fmt}: feed of {feeds_out[fmt]['mib']:,.1f} MiB ready")
            floor = in_child(floor_phase, str(path), fmt, settings.max_product_bytes)
            log(args, f"{fmt}: floor {n / floor['seconds']:,.0f} products/s")
            where, project_id = stores.create(fmt)
            results = {"floor": floor}
            for phase, full in (("import", False), ("reimport", args.full)):
                profile_to = (
                    str(Path(args.profile) / f"{fmt}-{phase}.prof") if args.profile else None
                )
                results[phase] = in_child(
                    import_phase, where, settings.sqlite_synchronous, project_id, str(path),
                    fmt, full, limits, profile_to,
                )  # fmt: skip
                log(args, f"{fmt}: {phase} {n / results[phase]['seconds']:,.0f} products/s")
            stored, db_mib = stores.stored(where, project_id)
            for result in results.values():
                result["products_per_s"] = result["products"] / result["seconds"]
                result["ratio"] = result["products_per_s"] / floor["products_per_s"]
                # the same by CPU time: steadier than wall time on a busy, shared machine
                result["cpu_ratio"] = floor["cpu_seconds"] / result["cpu_seconds"]
            results["import"]["stored"] = stored
            results["import"]["database_mib"] = db_mib
            problems += verify(fmt, n, results, stored)
            phases[fmt] = results
    finally:
        if args.keep:
            print(f"kept: {tmp} {' '.join(stores.schemas)}", file=sys.stderr)
        else:
            stores.remove()
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "source": {"start": version, "end": source_version()},
        "store": "postgres" if args.database_url else "sqlite",
        "synchronous": settings.sqlite_synchronous,
        "products": n,
        "reimport_full": args.full,
        "profiled": bool(args.profile),
        "feeds": feeds_out,
        "phases": phases,
        "verify": {"ok": not problems, "problems": problems},
    }


def verify(fmt: str, n: int, results: dict[str, dict[str, Any]], stored: int) -> list[str]:
    problems = []
    floor, first, second = results["floor"], results["import"], results["reimport"]
    if floor["products"] != n:
        problems.append(f"{fmt} floor read {floor['products']} products, expected {n}")
    for name, r in (("import", first), ("reimport", second)):
        if r["status"] != "completed" or r["rejected"] or r["removed"] or r["updated"]:
            problems.append(
                f"{fmt} {name}: status {r['status']} ({r['error']}), updated {r['updated']}, "
                f"rejected {r['rejected']}, removed {r['removed']}"
            )
    if first["created"] != n:
        problems.append(f"{fmt} import created {first['created']}, expected {n}")
    if second["unchanged"] != n:
        problems.append(f"{fmt} reimport found {second['unchanged']} unchanged, expected {n}")
    if stored != n:
        problems.append(f"{fmt}: the store holds {stored} products, expected {n}")
    return problems


def log(args: argparse.Namespace, message: str) -> None:
    if not args.json:
        print(f"  … {message}", file=sys.stderr, flush=True)


def report(out: dict[str, Any]) -> str:
    m = out["machine"]
    start, end = out["source"]["start"], out["source"]["end"]
    changed = start["src_tree"] != end["src_tree"]  # "+dirty" at both ends: cannot tell
    store = out["store"] + (
        f" (synchronous={out['synchronous']})" if out["store"] == "sqlite" else ""
    )
    lines = [
        f"machine: {m['nproc']} CPUs, Python {m['python']}, {m['platform']}",
        f"headwater: commit {start['commit']}, src/ tree {start['src_tree']}"
        + (
            f"; at the end commit {end['commit']}, src/ tree {end['src_tree']}: src/ CHANGED "
            "during the run, phases may have run different code"
            if changed
            else ""
        ),
        f"catalog import of {out['products']:,} products into {store}"
        + (", re-import with --full" if out["reimport_full"] else "")
        + (" — UNDER cProfile, rates are not comparable" if out["profiled"] else ""),
        "",
        f"{'format':<6} {'phase':<9} {'products/s':>10} {'seconds':>8} {'cpu s':>7} "
        f"{'vs floor':>8} {'(cpu)':>6} {'peak RSS':>10} {'created':>9} {'unchanged':>9} "
        f"{'upd/rej/rm':>10}",
    ]
    for fmt, results in out["phases"].items():
        for phase, r in results.items():
            counts = (
                f" {r['created']:>9,} {r['unchanged']:>9,} "
                f"{r['updated']}/{r['rejected']}/{r['removed']:<6}"
                if "created" in r
                else ""
            )
            lines.append(
                f"{fmt:<6} {phase:<9} {r['products_per_s']:>10,.0f} {r['seconds']:>8.1f} "
                f"{r['cpu_seconds']:>7.1f} {r['ratio']:>8.1%} {r['cpu_ratio']:>6.1%} "
                f"{r['peak_rss_mib']:>6.1f} MiB" + counts
            )
    lines.append("")
    for fmt, f in out["feeds"].items():
        wrote = f"written in {f['write_seconds']:.1f} s" if f["write_seconds"] else "reused"
        r = out["phases"].get(fmt, {}).get("import")
        extra = (
            f"; store after import: {r['stored']:,} products, {r['database_mib']:,.0f} MiB; "
            f"child baseline RSS (interpreter + imports) {r['baseline_rss_mib']:.0f} MiB"
            if r
            else ""
        )
        lines.append(f"{fmt} feed: {f['mib']:,.1f} MiB, {wrote}{extra}")
    v = out["verify"]
    lines.append("verify: " + ("OK" if v["ok"] else "FAILED"))
    lines += [f"  {problem}" for problem in v["problems"]]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--products", type=int, help="products per feed [1000000; quick 100000]")
    p.add_argument("--quick", action="store_true", help="100,000 products")
    p.add_argument(
        "--formats",
        type=lambda s: tuple(s.split(",")),
        default=FORMATS,
        help="comma-separated feed formats to run [json,xml]",
    )
    p.add_argument("--full", action="store_true", help="make the re-import a --full sync")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="benchmark on PostgreSQL: a database in which to create (and drop) schemas",
    )
    p.add_argument(
        "--feed-dir", metavar="DIR", help="write the feeds here and reuse them in later runs"
    )
    p.add_argument(
        "--profile", metavar="DIR", help="run each import under cProfile; stats to DIR/*.prof"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and schemas")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.products is None:
        args.products = 100_000 if args.quick else 1_000_000
    if args.products < 1:
        p.error("--products must be at least 1")
    unknown = set(args.formats) - set(FORMATS)
    if unknown:
        p.error(f"--formats: unknown {', '.join(sorted(unknown))}; choose from json, xml")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = run(args)
    print(json.dumps(out) if args.json else report(out))
    return 0 if out["verify"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
