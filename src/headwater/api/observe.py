"""Every request observed once, in the outermost layer: its latency in the metrics, by route
template and status, and (setting `access_log`) one access-log line.

An access line carries the method, the route template (never the raw path, which holds
identifiers), the status and the duration; the layers inside add what only they know to the
request's `notes`: the authenticator the prefix of a verified key (never a secret, never what
an unverified client claimed), track its item counts. A refused request (401, 404, 413, 429,
503...) gets its line like any other, so it is visible without `/metrics`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from headwater.api.asgi import ASGIApp, Message, Receive, Scope, Send
from headwater.metrics import METRICS

log = logging.getLogger("headwater.access")

NOTES = "headwater.notes"  # the scope key of a request's notes


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
                fields = {
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    **notes(scope),
                }
                log.info("%s %s %d", scope["method"], route, status, extra=fields)

    return middleware
