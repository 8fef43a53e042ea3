"""Every request observed once, in the outermost layer: its latency in the metrics, by route
template and status, and (setting `access_log`) one access-log line.

An access line carries the method, the route template (never the raw path, which holds
identifiers), the status and the duration; the layers inside add what only they know to the
request's `notes`: the authenticator the prefix of a verified key (never a secret, never what
an unverified client claimed), track its item counts. A refused request (401, 404, 413, 429,
503...) gets its line like any other, so it is visible without `/metrics`.

The line has the shape of every other log line (`logs.JSONFormatter`, logger
`headwater.access`) but skips `logging`, which cost 20 µs a line: the lines of one event-loop
iteration are written to stderr together, at its end (see `flush`).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from typing import Any

import msgspec

from headwater.api.asgi import ASGIApp, Message, Receive, Scope, Send
from headwater.metrics import METRICS

NOTES = "headwater.notes"  # the scope key of a request's notes
_encode = msgspec.json.Encoder().encode


def notes(scope: Scope) -> dict[str, Any]:
    """The access-log fields the inner layers set for this request (a dict in its scope)."""
    found: dict[str, Any] | None = scope.get(NOTES)
    if found is None:
        found = scope[NOTES] = {}
    return found


def observed(app: ASGIApp, access_log: bool) -> ASGIApp:
    """ASGI middleware: latency by route and status for every request, and its access line."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # when the app fails before it answers

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, observe)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("path_template") or "unmatched"
            METRICS.requests.labels(route, str(status)).observe(seconds)
            if access_log:
                write_line(scope["method"], route, status, seconds, scope.get(NOTES))

    return middleware


@functools.lru_cache(maxsize=1)
def _timestamp(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(second))


_pending: list[str] = []  # this event-loop iteration's lines


def write_line(
    method: str, route: str, status: int, seconds: float, noted: dict[str, Any] | None
) -> None:
    """One access-log line on stderr, at the end of this event-loop iteration."""
    line = {
        "time": _timestamp(int(time.time())),
        "level": "info",
        "logger": "headwater.access",
        "message": f"{method} {route} {status}",
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        **(noted or {}),
    }
    if not _pending:
        asyncio.get_running_loop().call_soon(flush)
    _pending.append(_encode(line).decode())


def pending() -> int:
    """How many lines wait for the end of the event-loop iteration."""
    return len(_pending)


def flush() -> None:
    """Write the pending lines in one go. A write per line, each letting the event loop's
    thread give up the GIL to granian's threads, cost 18% of single-event requests/s
    (docs/benchmarks.md, "Access log"); this, nothing measurable."""
    if _pending:
        text = "\n".join(_pending) + "\n"
        _pending.clear()
        sys.stderr.write(text)
