"""Catalog API: feed imports (scope `admin`), products (read: `read`; remove: `admin`).

POST   {BASE}/catalog/imports      a feed as the streamed request body → the import report
GET    {BASE}/catalog/imports      the import history, newest first
GET    {BASE}/products             filters category, availability, brand, q, status; paged
GET    {BASE}/products/{id}
DELETE {BASE}/products/{id}        flags the product removed (kept, restorable by a feed)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Response, delete, get, post
from litestar.exceptions import InternalServerException
from litestar.params import FromPath

from headwater.api.errors import JSON
from headwater.api.events import page_limit, page_response
from headwater.api.params import optional, text
from headwater.api.services import BASE, AnyRequest, services
from headwater.catalog import product
from headwater.catalog.feeds import FORMATS, FeedRefused
from headwater.catalog.imports import report, run_import
from headwater.catalog.sources import feed_stream
from headwater.clock import now_ms
from headwater.errors import BadRequest, NotFound, Overloaded, UnsupportedMediaType
from headwater.model.views import (
    decode_cursor,
    decode_key_cursor,
    encode_cursor,
    encode_key_cursor,
)
from headwater.store.base import ImportRecord, ProductFilter, ProductRecord

STATUSES = ("active", "removed", "all")
# Imports running at once in one server process: each holds a worker thread for its
# length, and the threads are shared with every other request.
_IMPORT_SLOTS = threading.BoundedSemaphore(2)


class _Upload:
    """The request body as a blocking `read`, for a parser running in a worker thread: each
    read waits on the event loop for the next chunk, so the upload is never held whole.

    A slow client must not hold an import slot for ever (two such held every slot): it may
    send nothing for `idle` seconds at most, and beyond a first `idle` seconds, each second
    the server spends waiting for it must have brought `min_rate` bytes. Only waiting counts,
    not the time the server spends applying what arrived. A client past either bound fails
    the import as a refused feed: recorded, answered 400, its slot freed.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        loop: asyncio.AbstractEventLoop,
        idle: float,
        min_rate: int,
    ) -> None:
        self._chunks = chunks
        self._loop = loop
        self._idle = idle
        self._min_rate = min_rate
        self._buffer = b""
        self._done = False
        self._waited = 0.0  # seconds spent waiting for the client
        self._received = 0

    async def _next(self) -> bytes:
        return await anext(self._chunks)

    def _allowance(self) -> float:
        """How long the client may still keep the server waiting for its next chunk."""
        if not self._min_rate:
            return self._idle
        paid = self._idle + self._received / self._min_rate - self._waited
        return max(0.0, min(self._idle, paid))

    def read(self, size: int = -1) -> bytes:
        while not self._buffer and not self._done:
            allowance = self._allowance()
            pending = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            started = time.monotonic()
            try:
                self._buffer = pending.result(timeout=allowance)
            except StopAsyncIteration:
                self._done = True
            except TimeoutError:
                pending.cancel()
                raise self._too_slow(allowance) from None
            except InternalServerException:
                raise FeedRefused("the client disconnected before sending the whole feed") from None
            finally:
                self._waited += time.monotonic() - started
            self._received += len(self._buffer)
        if size is None or size < 0:
            size = len(self._buffer)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk

    def _too_slow(self, allowance: float) -> FeedRefused:
        if allowance >= self._idle:
            return FeedRefused(
                f"the client sent no part of the feed for {self._idle:g} s "
                "(catalog_upload_idle_seconds)"
            )
        return FeedRefused(
            f"the upload is too slow: {self._received} bytes in {self._waited:.0f} s of waiting "
            f"for the client, fewer than {self._min_rate} bytes per second beyond its first "
            f"{self._idle:g} s (catalog_upload_min_bytes_per_second)"
        )


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.lower() in ("false", "0", "no"):
        return False
    if value.lower() in ("true", "1", "yes", ""):
        return True
    raise BadRequest(f"{name} must be true or false, got {value!r}", name)


@post(f"{BASE}/catalog/imports", request_max_body_size=None, status_code=201)
async def import_feed(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    """Import the feed in the body (`format` json | xml | google, or detected; `full`)."""
    hub = services(request)
    principal = await asyncio.to_thread(hub.principal, request, org, project, "admin")
    fmt = request.query_params.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", "format")
    full = _flag(request.query_params.get("full"), "full")
    encoding = (request.headers.get("content-encoding") or "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported; send the feed plain or gzip",
            "Content-Encoding",
        )
    settings = hub.settings
    body = _Upload(
        request.stream(),
        asyncio.get_running_loop(),
        settings.catalog_upload_idle_seconds,
        settings.catalog_upload_min_bytes_per_second,
    )
    stream = feed_stream(body, encoding in ("gzip", "x-gzip"), settings.catalog_max_feed_bytes)
    if not _IMPORT_SLOTS.acquire(blocking=False):
        raise Overloaded("two catalog imports are running in this server process; retry later")
    try:
        record = await asyncio.to_thread(
            run_import,
            hub.store,
            principal.project.id,
            stream,
            fmt=fmt,
            full=full,
            source="upload",
            key_prefix=principal.key_prefix,
            max_product_bytes=settings.max_product_bytes,
            max_id_length=settings.max_string_length,
        )
    finally:
        _IMPORT_SLOTS.release()
    shown: dict[str, Any] = report(record)
    if record.status == "failed":
        shown["errors"] = [{"message": record.error}]
        return Response(msgspec.json.encode(shown), status_code=400, media_type=JSON)
    return Response(msgspec.json.encode(shown), status_code=201, media_type=JSON)


@get(f"{BASE}/catalog/imports")
async def list_imports(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    """Async with its own thread hop, as every handler sharing a path with another method:
    Litestar 2.25 mishandles `sync_to_thread` handlers there."""
    hub = services(request)
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor, 1)[0] if cursor else None
    limit = page_limit(request.query_params.get("limit"))

    def read() -> list[ImportRecord]:
        principal = hub.principal(request, org, project, "read")
        return hub.store.list_imports(principal.project.id, before, limit + 1)

    records = await asyncio.to_thread(read)
    return page_response("imports", records, limit, report, lambda r: encode_cursor(r.id))


def product_view(record: ProductRecord) -> dict[str, Any]:
    shown = product.view(record.document)
    shown.update(
        removed=record.removed_at is not None,
        removedAt=record.removed_at,
        createdAt=record.created_at,
        updatedAt=record.updated_at,
    )
    return shown


@get(f"{BASE}/products", sync_to_thread=True)
def list_products(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    params = request.query_params
    status = params.get("status", "active")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", "status")
    cursor = params.get("cursor")
    limit = page_limit(params.get("limit"))
    longest = hub.settings.max_string_length
    where = ProductFilter(
        status=status,
        category=optional(params, "category", longest),
        availability=optional(params, "availability", longest),
        brand=optional(params, "brand", longest),
        text=optional(params, "q", longest) or None,
        after=decode_key_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    records = hub.store.list_products(principal.project.id, where)
    return page_response(
        "products", records, limit, product_view, lambda r: encode_key_cursor(r.id)
    )


@get(f"{BASE}/products/{{product_id:str}}")
async def get_product(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], product_id: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    product_id = text("productId", product_id, hub.settings.max_string_length)

    def read() -> ProductRecord | None:
        principal = hub.principal(request, org, project, "read")
        return hub.store.get_product(principal.project.id, product_id)

    found = await asyncio.to_thread(read)
    if found is None:
        raise NotFound(f"no product {product_id!r} in this project", "productId")
    return Response(msgspec.json.encode(product_view(found)), media_type=JSON)


@delete(f"{BASE}/products/{{product_id:str}}", status_code=200)
async def remove_product(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], product_id: FromPath[str]
) -> Response[bytes]:
    """Flag the product removed (kept, and restored when a feed or track sends it again)."""
    hub = services(request)
    product_id = text("productId", product_id, hub.settings.max_string_length)

    def remove() -> ProductRecord | None:
        principal = hub.principal(request, org, project, "admin")
        if not hub.store.remove_product(principal.project.id, product_id, now_ms()):
            return None
        return hub.store.get_product(principal.project.id, product_id)

    found = await asyncio.to_thread(remove)
    if found is None:
        raise NotFound(f"no active product {product_id!r} in this project", "productId")
    return Response(msgspec.json.encode(product_view(found)), media_type=JSON)
