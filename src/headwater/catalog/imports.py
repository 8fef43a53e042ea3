"""A catalog import: a feed read as a stream, applied a chunk at a time, reported.

Each chunk of products is validated, applied (upsert by id; unchanged products are
recognised and not rewritten) and its rejected products quarantined, in one transaction,
so memory stays flat and event ingestion never waits long on the catalog. `full` then
flags every product the feed did not carry as removed; that runs only once the whole feed
was read, so a feed refused halfway removes nothing (the products it had applied stay).
Every import, completed or refused, is kept with its report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from headwater.catalog import feeds, product
from headwater.catalog.merge import ProductChange
from headwater.clock import now_ms
from headwater.errors import HeadwaterError
from headwater.model import rules
from headwater.model.event import Context, Rejection
from headwater.store.base import ImportRecord, Store
from headwater.store.statements import quarantine_row

log = logging.getLogger("headwater.catalog")

CHUNK = 1000  # products per transaction
REPORTED_REJECTIONS = 100  # listed in the report; every one is in quarantine
_ANALYZE_AFTER = frozenset(10**k for k in range(8))  # chunk numbers 1, 10, 100, …


def run_import(
    store: Store,
    project_id: int,
    stream: feeds.Readable,
    *,
    fmt: str | None,
    full: bool,
    source: str,
    key_prefix: str,
    max_product_bytes: int,
    max_id_length: int,
    progress: Callable[[int], None] | None = None,
) -> ImportRecord:
    """Import the feed in `stream`; the finished record. A refused feed is a record with
    status `failed` and the reason in `error`; other errors (a store failure, a feed past
    its size cap) are recorded the same way, then raised."""
    started = now_ms()
    record = ImportRecord(
        store.start_import(project_id, fmt or "auto", source, full, started),
        project_id, fmt or "auto", source, full, "running", started,
    )  # fmt: skip
    importer = _Importer(store, record, key_prefix, max_id_length)
    feed: feeds.Feed | None = None
    try:
        feed = feeds.Feed(stream, fmt, max_product_bytes)
        for number, chunk in enumerate(_chunks(iter(feed)), 1):
            importer.apply(chunk)
            if number in _ANALYZE_AFTER:  # the catalog may have grown tenfold: plan for it
                store.analyze_catalog()
            if progress is not None:
                progress(len(chunk))
        if full and not importer.accepted:
            # Every product refused (ids under another name, a broken export): a full sync
            # would flag the whole catalog removed. Nothing is removed.
            raise feeds.FeedRefused(
                "no product of the feed was accepted, so --full removes nothing; see the rejections"
            )
        if full:
            record.removed = store.remove_unseen(project_id, record.id, now_ms())
        record.status = "completed"
    except feeds.FeedRefused as exc:
        record.status, record.error = "failed", exc.message
    except HeadwaterError as exc:
        record.status, record.error = "failed", exc.message
        log.error("catalog import %s failed: %s", record.id, exc.message)
        raise
    finally:
        if record.status == "running":  # an unexpected error: recorded, then raised
            record.status, record.error = "failed", "internal error; see the server log"
        if feed is not None:  # as detected, even when the feed was refused part way
            record.format = feed.format
        record.finished_at = now_ms()
        store.finish_import(record)
    return record


def record_refused(
    store: Store, project_id: int, fmt: str | None, source: str, full: bool, reason: str
) -> ImportRecord:
    """Record an import whose feed could not even be opened (a URL that does not answer)."""
    now = now_ms()
    record = ImportRecord(
        store.start_import(project_id, fmt or "auto", source, full, now),
        project_id, fmt or "auto", source, full, "failed", now, now, error=reason,
    )  # fmt: skip
    store.finish_import(record)
    return record


def report(record: ImportRecord) -> dict[str, Any]:
    """The API and CLI shape of an import."""
    return {
        "id": record.id,
        "status": record.status,
        "format": record.format,
        "source": record.source,
        "full": record.full,
        "startedAt": record.started_at,
        "finishedAt": record.finished_at,
        "created": record.created,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "removed": record.removed,
        "rejected": record.rejected,
        "rejections": record.rejections,
        "error": record.error,
    }


def _chunks(entries: Iterator[feeds.FeedEntry]) -> Iterator[list[feeds.FeedEntry]]:
    chunk: list[feeds.FeedEntry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Importer:
    def __init__(self, store: Store, record: ImportRecord, key_prefix: str, max_id: int) -> None:
        self._store = store
        self._record = record
        self._max_id = max_id
        # Zero-padded: of two imports started in the same millisecond, the later one wins.
        self._key = (record.started_at, f"import:{record.id:012d}")
        self._ctx = Context(record.project_id, None, key_prefix, record.started_at)
        self.accepted = 0

    def apply(self, chunk: list[feeds.FeedEntry]) -> None:
        record = self._record
        changes: list[ProductChange] = []
        quarantine: list[tuple[object, ...]] = []
        seen: list[str] = []
        for entry in chunk:
            try:
                if entry.fields is None:
                    raise rules.Invalid(entry.field, entry.error or "cannot be read", "product")
                document = product.check(entry.fields, self._max_id)
            except rules.Invalid as bad:
                id_ = product.id_of(entry.fields) if entry.fields is not None else entry.id
                if id_ is not None:
                    seen.append(id_)  # present in the feed: never removed by --full, even if bad
                quarantine.append(self._reject(entry, id_, bad))
                continue
            seen.append(document["id"])
            # The line is the feed position: a product listed twice ends as its last entry.
            changes.append(ProductChange(document["id"], document, (*self._key, entry.index), True))
        counts = self._store.apply_products(
            record.project_id,
            changes,
            now_ms(),
            quarantine,
            (record.id, seen) if record.full else None,
        )
        self.accepted += len(changes)
        record.created += counts.created
        record.updated += counts.updated
        record.unchanged += counts.unchanged

    def _reject(
        self, entry: feeds.FeedEntry, id_: str | None, bad: rules.Invalid
    ) -> tuple[object, ...]:
        record = self._record
        path = f"{entry.path}.{bad.path}" if bad.path else entry.path
        name = f"product {id_!r}" if id_ is not None else "a product without a usable id"
        field = f" field {bad.path}" if bad.path else ""
        message = f"{name} (at {entry.path}):{field} {bad.message}"
        record.rejected += 1
        if len(record.rejections) < REPORTED_REJECTIONS:
            record.rejections.append(
                {"index": entry.index, "product": id_, "path": path, "message": message}
            )
        rejection = Rejection(None, entry.index, path, message, "product", entry.raw())
        return quarantine_row(self._ctx, rejection, "product")
