"""Ingest benchmark: a real `headwater serve`, driven over HTTP with SDK-shaped track requests.

The server gets its own temporary SQLite file, or with `--database-url postgresql://…` its
own new schema in that PostgreSQL database (dropped at the end). A separate load-generator process
(multiprocessing, spawn) sends the exact body shape the official Intempt Python SDK sends,
through a minimal asyncio HTTP/1.1 keep-alive client with pre-encoded requests:

  phase "batched": 50 groups of one item per request (the SDK's batch size);
  phase "single":  one group of one item per request (an unbatched SDK call).

Each phase prints events/s, requests/s, p50/p99 latency and the server's peak memory
(sum of VmHWM over the supervisor and its worker processes), beside a FLOOR measured in
the same run: the same rows, built as `EventRow`s, loaded straight into a fresh database
with the same schema and indexes, in transactions of the writer's maximum batch size
(SQLite: the store's own `insert_events`, same `synchronous`; PostgreSQL: COPY). At the end
the rows in the server's database are counted and must equal the number of events the
server acknowledged.

    .venv/bin/python benchmarks/ingest.py              # about 1 minute on 2 cores
    .venv/bin/python benchmarks/ingest.py --quick      # about 15 s
    .venv/bin/python benchmarks/ingest.py --workers 2 --json
    .venv/bin/python benchmarks/ingest.py --database-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg

from headwater.config import Settings
from headwater.model.event import STORED_COLUMNS, EventRow, stored
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore, connect_writer, insert_events

TRACK_PATH = "/v1/default/projects/default/track"
SDK_GROUPS_PER_REQUEST = 50  # the SDK's flush size: one group (one item) per event
SDK_LIB = "intempt-python/2.0.0"
EVENT_NAMES = ("page_view", "product_viewed", "add_to_cart", "checkout_started", "search")
PLANS = ("free", "starter", "pro", "enterprise")
TARGET_SINGLE_RPS = 5_000  # the target: durable single-event requests/s on 2 cores
TARGET_BATCHED_RATIO = 0.5  # the target: batched end-to-end / floor


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    seed: int
    events: int
    groups_per_request: int
    connections: int
    timed: bool = True


def sdk_items(seed: int, count: int, base_ms: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, payload item) pairs as the SDK builds them; deterministic per seed."""
    rng = random.Random(seed)
    for _ in range(count):
        name = rng.choice(EVENT_NAMES)
        item: dict[str, Any] = {
            "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "timestamp": base_ms - rng.randrange(600_000),
            "userId": f"user-{rng.randrange(50_000)}",
            "data": {
                "plan": rng.choice(PLANS),
                "path": f"/products/{rng.randrange(5_000)}",
                "price": rng.randrange(100, 50_000) / 100,
                "quantity": rng.randint(1, 5),
                "currency": "USD",
            },
        }
        yield name, item


def event_rows(
    spec: PhaseSpec, base_ms: int, project_id: int, key_prefix: str, received_at: int
) -> list[EventRow]:
    """The rows the server stores for a phase's items (received_at aside)."""
    rows = []
    for name, item in sdk_items(spec.seed, spec.events, base_ms):
        # The server keeps `data` as the exact JSON text of the object in the body; the
        # body is `json.dumps` of the whole request, so `json.dumps` of the object matches.
        data = json.dumps(item["data"])
        rows.append(
            EventRow(
                project_id,
                None,
                name,
                item["eventId"],
                0,
                None,
                None,
                item["userId"],
                None,
                None,
                None,
                None,
                None,
                None,
                item["timestamp"],
                received_at,
                data,
                None,
                None,
                None,
                None,
                key_prefix,
            )
        )
    return rows


def encode_requests(
    spec: PhaseSpec, base_ms: int, host: str, authorization: str
) -> list[tuple[int, bytes]]:
    """(event count, whole HTTP request) for every request of a phase, headers as the SDK's."""
    requests: list[tuple[int, bytes]] = []
    groups: list[dict[str, Any]] = []

    def flush() -> None:
        body = json.dumps({"track": groups}).encode()
        head = (
            f"POST {TRACK_PATH} HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            "Accept-Encoding: identity\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Authorization: {authorization}\r\n"
            f"X-Intempt-Lib: {SDK_LIB}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        requests.append((len(groups), head + body))
        groups.clear()

    for name, item in sdk_items(spec.seed, spec.events, base_ms):
        groups.append({"name": name, "payload": [item]})
        if len(groups) == spec.groups_per_request:
            flush()
    if groups:
        flush()
    return requests


# -- load generator (runs in its own process) -------------------------------------------


@dataclass
class ClientResult:
    phase: str
    requests: int = 0
    events_sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: int = 0
    retries_503: int = 0
    first_error: str = ""
    seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    end = lower.index(b"\r\n", at + 2)
    return int(lower[at + 17 : end])


async def _drive(
    host: str, port: int, requests: list[tuple[int, bytes]], connections: int, result: ClientResult
) -> None:
    streams = [
        await asyncio.open_connection(host, port, limit=1 << 20)
        for _ in range(min(connections, len(requests)))
    ]
    work = iter(requests)
    go = asyncio.Event()
    latencies = result.latencies_ns

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await go.wait()
        clock = time.perf_counter_ns
        for events, request in work:  # one shared iterator: each request is sent once
            while True:
                start = clock()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(_content_length(head))
                elapsed = clock() - start
                status = int(head[9:12])
                if status == 503:  # Overloaded: the SDK retries after Retry-After
                    result.retries_503 += 1
                    await asyncio.sleep(0.05)
                    continue
                latencies.append(elapsed)
                result.requests += 1
                result.events_sent += events
                if status == 201:
                    report = json.loads(body)
                    result.accepted += report["accepted"]
                    result.duplicates += report["duplicates"]
                    result.rejected += len(report["rejected"])
                else:
                    result.errors += 1
                    result.first_error = result.first_error or f"{status} {body[:300]!r}"
                break
        writer.close()

    tasks = [asyncio.create_task(one(r, w)) for r, w in streams]
    cpu = os.times()
    start = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - start
    after = os.times()
    result.client_cpu_seconds = (after.user - cpu.user) + (after.system - cpu.system)


def client_main(
    pipe: Connection, host: str, port: int, authorization: str, spec: PhaseSpec, base_ms: int
) -> None:
    """Load-generator process: encode every request first, report "ready", wait, then drive."""
    requests = encode_requests(spec, base_ms, f"{host}:{port}", authorization)
    pipe.send("ready")
    pipe.recv()
    result = ClientResult(spec.name)
    asyncio.run(_drive(host, port, requests, spec.connections, result))
    pipe.send(asdict(result))
    pipe.close()


def run_client(
    host: str, port: int, authorization: str, spec: PhaseSpec, base_ms: int
) -> ClientResult:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(
        target=client_main, args=(theirs, host, port, authorization, spec, base_ms), daemon=True
    )
    proc.start()
    theirs.close()
    if ours.recv() != "ready":
        raise RuntimeError("load generator failed to start")
    ours.send("go")
    raw: dict[str, Any] = ours.recv()
    proc.join()
    return ClientResult(**raw)


# -- the server --------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process is gone
        return found
    for task in tasks:
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def process_tree(root: int) -> list[int]:
    """The root and all its descendants (via /proc/<pid>/task/*/children)."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            tree.append(pid)
            todo.extend(_children(pid))
    return tree


def vm_hwm_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the processes (their threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _headwater_command() -> list[str]:
    """The `headwater` console script of this interpreter's environment, else the module."""
    script = Path(sys.executable).parent / "headwater"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "__import__('headwater.cli').cli.main()"]


class Server:
    """`headwater serve` in `workdir`: its output (access log included) goes to a file there,
    as under a supervisor, and so does its first key (the output is not a terminal)."""

    def __init__(self, database_url: str, workers: int, env: dict[str, str], workdir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *_headwater_command(),
                    "serve",
                    "--database-url",
                    database_url,
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                ],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                start_new_session=True,
            )
        self._wait_healthy(workers)
        self.api_key = self._read_key()

    @property
    def output(self) -> list[str]:
        return self.log_path.read_text("utf-8", errors="replace").splitlines(keepends=True)

    def _read_key(self) -> str:
        path = self.workdir / "headwater-first-key.txt"
        text = path.read_text("utf-8") if path.exists() else ""
        for line in text.splitlines():
            if line.startswith("API key:"):
                return line.split(":", 1)[1].strip()
        self.stop()
        raise RuntimeError(f"server wrote no API key to {path}:\n" + "".join(self.output))

    def _wait_healthy(self, workers: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            with contextlib.suppress(OSError):
                url = f"http://{self.host}:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200 and len(process_tree(self.proc.pid)) > workers:
                        return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become healthy:\n" + "".join(self.output))

    @property
    def authorization(self) -> str:
        prefix, _, secret = self.api_key.partition(".")
        return "Basic " + base64.b64encode(f"{prefix}:{secret}".encode()).decode()

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def peak_rss_kib(self) -> int:
        return sum(vm_hwm_kib(pid) for pid in self.pids())

    def stop(self) -> None:
        """SIGINT the process group (graceful: the writer commits what is queued), then wait."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Workers exit with the supervisor; make sure none outlives it holding the database.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def server_commits(host: str, port: int) -> tuple[float, float]:
    """(transactions, events) the writer committed, from /metrics of the worker that answers."""
    url = f"http://{host}:{port}/metrics"
    commits = events = 0.0
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("headwater_writer_batch_events_count"):
                commits = float(line.split()[-1])
            elif line.startswith("headwater_writer_batch_events_sum"):
                events = float(line.split()[-1])
    return commits, events


# -- the floor ---------------------------------------------------------------------------


def postgres_floor(
    specs: Sequence[PhaseSpec], url: str, base_ms: int, project_id: int, key_prefix: str, batch: int
) -> dict[str, float]:
    """Rows/s of each timed phase's rows COPied straight into a fresh schema."""
    store = PostgresStore(url)
    store.migrate()
    store.close()
    rates: dict[str, float] = {}
    copy_sql = f"COPY events ({', '.join(STORED_COLUMNS)}) FROM STDIN"  # as the store
    with psycopg.connect(url) as conn:
        for spec in specs:
            rows = event_rows(spec, base_ms, project_id, key_prefix, base_ms)
            start = time.perf_counter()
            for at in range(0, len(rows), batch):
                with conn.transaction(), conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                    for row in rows[at : at + batch]:
                        copy.write_row(stored(row))
            seconds = time.perf_counter() - start
            if spec.timed:
                rates[spec.name] = len(rows) / seconds
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone() or (0,)
    if count != sum(s.events for s in specs):
        raise RuntimeError(f"floor stored {count} rows, expected {sum(s.events for s in specs)}")
    return rates


def sqlite_floor(
    specs: Sequence[PhaseSpec],
    path: Path,
    base_ms: int,
    project_id: int,
    key_prefix: str,
    batch: int,
    synchronous: str,
) -> dict[str, float]:
    """Rows/s of each timed phase's rows inserted straight into a fresh database."""
    store = SQLiteStore(str(path), synchronous)
    store.migrate()
    store.close()
    conn = connect_writer(str(path), synchronous)
    rates: dict[str, float] = {}
    received_at = base_ms
    for spec in specs:  # in the server's order, so each phase meets the same table size
        rows = event_rows(spec, base_ms, project_id, key_prefix, received_at)
        start = time.perf_counter()
        for at in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            insert_events(conn, rows[at : at + batch])
            conn.execute("COMMIT")
        seconds = time.perf_counter() - start
        if spec.timed:
            rates[spec.name] = len(rows) / seconds
    (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
    conn.close()
    if count != sum(s.events for s in specs):
        raise RuntimeError(f"floor stored {count} rows, expected {sum(s.events for s in specs)}")
    return rates


def compare_sample(
    query: Query, specs: Sequence[PhaseSpec], base_ms: int, project_id: int, key_prefix: str
) -> list[str]:
    """Check that floor rows equal the server's stored rows (received_at aside)."""
    columns = ", ".join(EventRow._fields)
    problems = []
    for spec in specs:
        rows = event_rows(spec, base_ms, project_id, key_prefix, 0)
        for row in rows[:: max(1, len(rows) // 50)]:
            stored = query(
                f"SELECT {columns} FROM events WHERE project_id = ? AND event_id = ?",
                (project_id, row.event_id),
            )
            expected = row._replace(received_at=0)
            got = [EventRow(*s)._replace(received_at=0) for s in stored]
            if got != [expected]:
                problems.append(f"{spec.name}: stored {got!r} != floor row {expected!r}")
    return problems[:3]


# -- databases ---------------------------------------------------------------------------

Query = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]


class Databases:
    """Where the server and the floor keep their rows: SQLite files in a temporary folder, or
    new schemas in the PostgreSQL database of `--database-url` (dropped by `remove`)."""

    def __init__(self, base_url: str | None, tmp: Path) -> None:
        self.base_url = base_url
        self.tmp = tmp
        self.tag = f"headwater_bench_{os.getpid()}"
        if base_url:
            with psycopg.connect(base_url, autocommit=True) as conn:
                for name in ("server", "floor"):
                    conn.execute(f"CREATE SCHEMA {self.tag}_{name}")

    @property
    def postgres(self) -> bool:
        return self.base_url is not None

    def url(self, name: str) -> str:
        if self.base_url is None:
            return f"sqlite:///{self.tmp / (name + '.db')}"
        joiner = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{joiner}options=-csearch_path%3D{self.tag}_{name}"

    @contextlib.contextmanager
    def query(self, name: str) -> Iterator[Query]:
        """Run `?`-style SQL against one database."""
        if self.base_url is None:
            conn = sqlite3.connect(f"file:{self.tmp / (name + '.db')}?mode=ro", uri=True)
            try:
                yield lambda sql, params: conn.execute(sql, params).fetchall()
            finally:
                conn.close()
            return
        with psycopg.connect(self.url(name)) as pg:
            yield lambda sql, params: pg.execute(sql.replace("?", "%s"), params).fetchall()

    def remove(self) -> None:
        if self.base_url:
            with psycopg.connect(self.base_url, autocommit=True) as conn:
                for name in ("server", "floor"):
                    conn.execute(f"DROP SCHEMA IF EXISTS {self.tag}_{name} CASCADE")
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- the run -----------------------------------------------------------------------------


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_ns:
        return 0.0
    rank = max(0, min(len(sorted_ns) - 1, int(q * len(sorted_ns) + 0.5) - 1))
    return sorted_ns[rank] / 1e6


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, help="events in the batched phase [200000; quick 30000]")
    p.add_argument(
        "--single-events", type=int, help="requests in the single phase [60000; quick 15000]"
    )
    p.add_argument("--connections", type=int, default=16, help="connections, batched phase [16]")
    p.add_argument(
        "--single-connections", type=int, default=64, help="connections, single phase [64]"
    )
    p.add_argument("--workers", type=int, default=1, help="server processes [1]")
    p.add_argument("--quick", action="store_true", help="a ~15 s smoke run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server setting, e.g. HEADWATER_WRITER_MAX_WAIT_MS=1 (repeatable)",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="record each phase with py-spy (must be on PATH or in the venv) into DIR",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary databases")
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="benchmark on PostgreSQL: a database in which to create (and drop) two schemas",
    )
    args = p.parse_args(argv)
    if args.events is None:
        args.events = 30_000 if args.quick else 200_000
    if args.single_events is None:
        args.single_events = 15_000 if args.quick else 60_000
    for name in ("events", "single_events", "connections", "single_connections", "workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _start_profile(out_dir: str | None, phase: str, pid: int) -> subprocess.Popen[bytes] | None:
    if out_dir is None or phase == "warmup":
        return None
    exe = _py_spy()
    if exe is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    output = str(Path(out_dir) / f"{phase}.txt")
    return subprocess.Popen(
        [
            *(exe, "record", "--pid", str(pid), "--subprocesses", "--threads"),
            *("--nonblocking", "--format", "raw", "--output", output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop_profile(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(e.split("=", 1) for e in args.env)
    settings = Settings.from_env(environ={**os.environ, **env})
    databases = Databases(args.database_url, Path(tempfile.mkdtemp(prefix="headwater-bench-")))
    base_ms = time.time_ns() // 1_000_000
    specs = [
        PhaseSpec("warmup", 3, min(1_000, args.single_events), 1, 8, timed=False),
        PhaseSpec("batched", 1, args.events, SDK_GROUPS_PER_REQUEST, args.connections),
        PhaseSpec("single", 2, args.single_events, 1, args.single_connections),
    ]
    server = Server(databases.url("server"), args.workers, env, databases.tmp)
    phases: dict[str, Any] = {}
    acked = sent = 0
    try:
        for spec in specs:
            pids = server.pids()
            cpu_before = cpu_seconds(pids)
            commits_before = server_commits(server.host, server.port) if args.workers == 1 else None
            profiler = _start_profile(args.profile, spec.name, server.proc.pid)
            result = run_client(server.host, server.port, server.authorization, spec, base_ms)
            _stop_profile(profiler)
            server_cpu = cpu_seconds(server.pids()) - cpu_before
            acked += result.accepted
            sent += result.events_sent
            if server.pids() != pids:
                raise RuntimeError(f"server processes changed during {spec.name}: a worker died?")
            if not spec.timed:
                continue
            latencies = sorted(result.latencies_ns)
            phase: dict[str, Any] = {
                "events": result.events_sent,
                "requests": result.requests,
                "connections": spec.connections,
                "groups_per_request": spec.groups_per_request,
                "seconds": round(result.seconds, 3),
                "events_per_s": result.accepted / result.seconds,
                "requests_per_s": result.requests / result.seconds,
                "p50_ms": percentile(latencies, 0.50),
                "p99_ms": percentile(latencies, 0.99),
                "peak_rss_mib": server.peak_rss_kib() / 1024,
                "server_cpu_cores": server_cpu / result.seconds,
                "client_cpu_cores": result.client_cpu_seconds / result.seconds,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "errors": result.errors,
                "retries_503": result.retries_503,
            }
            if result.first_error:
                phase["first_error"] = result.first_error
            if commits_before is not None:
                commits, events = server_commits(server.host, server.port)
                phase["commits"] = int(commits - commits_before[0])
                phase["events_per_commit"] = (events - commits_before[1]) / max(
                    1.0, commits - commits_before[0]
                )
            phases[spec.name] = phase
        peak_rss_mib = server.peak_rss_kib() / 1024
        per_process = {pid: vm_hwm_kib(pid) // 1024 for pid in server.pids()}
    finally:
        server.stop()
        output = "".join(server.output)

    key_prefix = server.api_key.partition(".")[0]
    with databases.query("server") as query:
        [(stored,)] = query("SELECT count(*) FROM events", ())
        [(quarantined,)] = query("SELECT count(*) FROM quarantine", ())
        [(project_id,)] = query("SELECT DISTINCT project_id FROM events", ())
        mismatches = compare_sample(query, specs, base_ms, project_id, key_prefix)

    batch = settings.writer_batch_events
    if databases.postgres:
        floor_url = databases.url("floor")
        rates = postgres_floor(specs, floor_url, base_ms, project_id, key_prefix, batch)
    else:
        rates = sqlite_floor(
            specs, databases.tmp / "floor.db", base_ms, project_id, key_prefix, batch,
            settings.sqlite_synchronous,
        )  # fmt: skip
    for name, phase in phases.items():
        phase["floor_rows_per_s"] = rates[name]
        phase["ratio"] = phase["events_per_s"] / rates[name]

    if args.keep:
        print(f"databases kept: {databases.url('server')}, {databases.url('floor')}",
              file=sys.stderr)  # fmt: skip
    else:
        databases.remove()

    ok = stored == acked == sent and quarantined == 0 and not mismatches
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "server": {
            "store": "postgres" if databases.postgres else "sqlite",
            "workers": args.workers,
            "writer_batch_events": settings.writer_batch_events,
            "writer_max_wait_ms": settings.writer_max_wait_ms,
            "synchronous": settings.sqlite_synchronous,
            "peak_rss_mib": peak_rss_mib,
            "peak_rss_mib_by_pid": per_process,
        },
        "phases": phases,
        "targets": {
            "single_requests_per_s": TARGET_SINGLE_RPS,
            "single_met": phases["single"]["requests_per_s"] >= TARGET_SINGLE_RPS,
            "batched_ratio": TARGET_BATCHED_RATIO,
            "batched_met": phases["batched"]["ratio"] >= TARGET_BATCHED_RATIO,
        },
        "verify": {
            "sent": sent,
            "acknowledged": acked,
            "stored": stored,
            "quarantined": quarantined,
            "row_mismatches": mismatches,
            "ok": ok,
        },
        "server_output_tail": output.splitlines()[-5:] if not ok else [],
    }


def report(out: dict[str, Any]) -> str:
    m, s, v = out["machine"], out["server"], out["verify"]
    lines = [
        f"machine: {m['nproc']} CPUs, Python {m['python']}, {m['platform']}",
        f"server: {s['store']}, {s['workers']} worker(s), writer batch "
        f"{s['writer_batch_events']}, max wait {s['writer_max_wait_ms']} ms"
        + (f", synchronous={s['synchronous']} " if s["store"] == "sqlite" else " ")
        + "(load generator shares the CPUs)",
        "",
        f"{'phase':<8} {'events/s':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'peak RSS':>9} {'floor rows/s':>12} {'ratio':>6} {'srv cpu':>7} {'cli cpu':>7}",
    ]
    for name, p in out["phases"].items():
        lines.append(
            f"{name:<8} {p['events_per_s']:>9,.0f} {p['requests_per_s']:>8,.0f} "
            f"{p['p50_ms']:>7.2f} {p['p99_ms']:>7.2f} {p['peak_rss_mib']:>7.1f}Mi "
            f"{p['floor_rows_per_s']:>12,.0f} {p['ratio']:>6.1%} "
            f"{p['server_cpu_cores']:>7.2f} {p['client_cpu_cores']:>7.2f}"
        )
    lines.append("")
    for name, p in out["phases"].items():
        extra = (
            f", {p['commits']} commits, {p['events_per_commit']:.0f} events/commit"
            if "commits" in p
            else ""
        )
        lines.append(
            f"{name}: {p['events']:,} events in {p['requests']:,} requests over "
            f"{p['connections']} connections, {p['seconds']:.1f} s{extra}; "
            f"errors {p['errors']}, 503 retries {p['retries_503']}"
        )
        if "first_error" in p:
            lines.append(f"  first error: {p['first_error']}")
    t = out["targets"]
    single, batched = out["phases"]["single"], out["phases"]["batched"]
    lines += [
        "",
        f"durable single-event requests/s: {single['requests_per_s']:,.0f} "
        f"(target >= {t['single_requests_per_s']:,}: {'met' if t['single_met'] else 'NOT met'})",
        f"batched end-to-end / floor: {batched['ratio']:.1%} "
        f"(target >= {t['batched_ratio']:.0%}: {'met' if t['batched_met'] else 'NOT met'})",
        f"single end-to-end / floor: {single['ratio']:.1%}",
        f"server peak memory (sum of VmHWM, {len(s['peak_rss_mib_by_pid'])} processes): "
        f"{s['peak_rss_mib']:.1f} MiB",
        f"verify: sent {v['sent']:,}, acknowledged {v['acknowledged']:,}, "
        f"stored {v['stored']:,}, quarantined {v['quarantined']}: "
        + ("OK" if v["ok"] else "FAILED"),
    ]
    lines += [f"  {problem}" for problem in v["row_mismatches"]]
    lines += [f"  server: {line}" for line in out["server_output_tail"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = run(args)
    print(json.dumps(out, indent=2) if args.json else report(out))
    return 0 if out["verify"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
