"""A project's events written out as NDJSON, CSV or Parquet, in constant memory.

Events are read a page at a time in the order of the events API (event time, then seq) and
each page is encoded and handed on before the next is read, so memory does not grow with the
export. Every format has the fields of the events API's objects, in `COLUMNS` order:
- NDJSON: one events API object per line.
- CSV (RFC 4180, UTF-8, a header row): identifiers and names as text, `line`, `timestamp`
  and `receivedAt` as integers (epoch ms), JSON objects (`data`, the attributes, `extra`) as
  their JSON text as stored; an empty cell is null.
- Parquet (through pyarrow, an optional dependency): a row group per `ROW_GROUP` events;
  strings, `line` as int64, `timestamp` and `receivedAt` as UTC millisecond timestamps, JSON
  objects as JSON text.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from headwater.errors import BadRequest, MissingDependency
from headwater.model.event import EVENT_COLUMNS
from headwater.model.views import EVENT_FIELDS, event_view
from headwater.store.base import EventQuery, Store

FORMATS = ("ndjson", "csv", "parquet")
MEDIA_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
PAGE = 1000
ROW_GROUP = 10_000
COLUMNS = tuple(EVENT_FIELDS.values())
_POSITIONS = [EVENT_COLUMNS.index(column) for column in EVENT_FIELDS]  # COLUMNS in a row
_TIMESTAMP = EVENT_COLUMNS.index("timestamp")
_INTEGERS = ("line",)
_TIMES = ("timestamp", "receivedAt")

Progress = Callable[[int], None]


def check_format(fmt: str) -> str:
    """`fmt`, once it is a format this installation can write."""
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}", "format")
    if fmt == "parquet":
        _pyarrow()
    return fmt


def export(
    store: Store, query: EventQuery, fmt: str, progress: Progress | None = None
) -> Iterator[bytes]:
    """The events `query` selects (its filters and time bounds) in format `fmt`, as chunks
    of bytes; `progress` is told how many events each chunk holds."""
    encode = {"ndjson": _ndjson, "csv": _csv, "parquet": _parquet}[check_format(fmt)]
    return encode(_counted(pages(store, query), progress))


def pages(store: Store, query: EventQuery) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `query`, a page at a time, by event time then seq."""
    query = dataclasses.replace(query, after=None, descending=False, limit=PAGE)
    while True:
        rows = store.query_events(query)
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        last = rows[-1]
        query = dataclasses.replace(query, after=(last[_TIMESTAMP], last[-1]))


def _counted(
    chunks: Iterable[list[tuple[Any, ...]]], progress: Progress | None
) -> Iterator[list[tuple[Any, ...]]]:
    for rows in chunks:
        yield rows
        if progress is not None:
            progress(len(rows))


def _ndjson(chunks: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    for rows in chunks:
        yield encoder.encode_lines([event_view(row) for row in rows])


def _csv(chunks: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    text = io.StringIO()
    out = csv.writer(text)
    out.writerow(COLUMNS)
    yield _taken(text)
    for rows in chunks:
        out.writerows([row[i] for i in _POSITIONS] for row in rows)
        yield _taken(text)


def _taken(text: io.StringIO) -> bytes:
    data = text.getvalue().encode()
    text.seek(0)
    text.truncate()
    return data


class _Sink:
    """A file pyarrow writes to; what it wrote is taken away as it goes."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing buffered here."""

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _parquet(chunks: Iterable[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    pa, pq = _pyarrow()
    types = {name: pa.string() for name in COLUMNS}
    types.update({name: pa.int64() for name in _INTEGERS})
    types.update({name: pa.timestamp("ms", tz="UTC") for name in _TIMES})
    schema = pa.schema([(name, types[name]) for name in COLUMNS])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema)
    group: list[tuple[Any, ...]] = []
    try:
        for rows in chunks:
            group += rows
            if len(group) >= ROW_GROUP:
                writer.write_table(_table(pa, schema, group), row_group_size=ROW_GROUP)
                group = []
                yield sink.take()
        if group:
            writer.write_table(_table(pa, schema, group), row_group_size=ROW_GROUP)
    finally:
        writer.close()
    yield sink.take()


def _table(pa: Any, schema: Any, rows: list[tuple[Any, ...]]) -> Any:
    columns = [
        pa.array([row[i] for row in rows], type=field.type)
        for i, field in zip(_POSITIONS, schema, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingDependency(
            "Parquet export needs pyarrow, which is not installed: "
            "pip install 'headwater[parquet]'",
            "format",
        ) from None
    return pyarrow, pyarrow.parquet
