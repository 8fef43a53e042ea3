"""Where a feed's bytes come from: a file, standard input, an http(s) URL or an upload.

Every source is a blocking `read(size)` the parsers pull from, so nothing is buffered
whole. Remote and uploaded feeds are capped in size (after gzip decoding); URL reads time
out. Read failures become `FeedRefused`, which an import reports instead of crashing.
"""

from __future__ import annotations

import gzip
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from typing import Any, cast

from headwater.catalog.feeds import FeedRefused, Readable
from headwater.errors import PayloadTooLarge


class CountingReader:
    """Counts the bytes read (for a progress bar) and refuses past `cap` bytes."""

    def __init__(
        self, raw: Readable, cap: int | None = None, seen: Callable[[int], None] | None = None
    ) -> None:
        self._raw = raw
        self._cap = cap
        self._seen = seen
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._raw.read(size)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise FeedRefused(f"the feed is not valid gzip: {exc or 'truncated'}") from None
        except TimeoutError:
            raise FeedRefused(
                "reading the feed timed out (catalog_fetch_timeout_seconds)"
            ) from None
        except OSError as exc:
            raise FeedRefused(f"reading the feed failed: {exc}") from None
        self.total += len(chunk)
        if self._cap is not None and self.total > self._cap:
            raise PayloadTooLarge(
                f"the feed is larger than {self._cap} bytes (catalog_max_feed_bytes)"
            )
        if self._seen is not None:
            self._seen(len(chunk))
        return chunk


def feed_stream(
    raw: Readable, gz: bool, cap: int | None, seen: Callable[[int], None] | None = None
) -> CountingReader:
    """`raw` as a feed: `seen` counts its bytes as they arrive, then it is gunzipped when
    `gz`, and `cap` bounds the decoded size (a gzip bomb stops at the cap)."""
    wire: Readable = CountingReader(raw, None, seen)
    if gz:
        wire = gzip.GzipFile(fileobj=cast(Any, wire), mode="rb")
    return CountingReader(wire, cap)


def open_path(path: str) -> tuple[Readable, int | None, bool]:
    """(stream, size when known, gzipped) of a file, or of standard input for `-`."""
    if path == "-":
        return sys.stdin.buffer, None, False
    try:
        handle = open(path, "rb")
        size = handle.seek(0, 2)
        handle.seek(0)
    except OSError as exc:
        raise FeedRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    return handle, size, path.endswith(".gz")


def is_url(spec: str) -> bool:
    return urllib.parse.urlsplit(spec).scheme.lower() in ("http", "https")


def open_url(url: str, timeout: float) -> tuple[Readable, int | None, bool]:
    """(stream, Content-Length when given, gzipped) of an http(s) URL; redirects stay on
    http(s)."""
    try:
        response = _OPENER.open(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FeedRefused(f"fetching {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FeedRefused(f"cannot fetch {url}: {exc.reason}") from None
    except (TimeoutError, OSError, ValueError) as exc:
        raise FeedRefused(f"cannot fetch {url}: {exc}") from None
    length = response.headers.get("Content-Length")
    encoding = (response.headers.get("Content-Encoding") or "").lower()
    gz = encoding in ("gzip", "x-gzip") or urllib.parse.urlsplit(url).path.endswith(".gz")
    return response, int(length) if length and length.isascii() and length.isdigit() else None, gz


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        if not is_url(newurl):
            raise FeedRefused(f"the feed URL redirects to {newurl}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HTTPOnlyRedirects)
