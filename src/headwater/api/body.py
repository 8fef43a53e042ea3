"""Request bodies on the raw ASGI path: size limits and Content-Encoding (gzip, bounded)."""

from __future__ import annotations

import zlib

from headwater.api.asgi import Receive
from headwater.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body is larger than the configured limit of {max_bytes} bytes (max_body_bytes)"
    )


async def receive_body(receive: Receive, announced: int | None, max_bytes: int) -> bytes:
    """The whole body, refusing past `max_bytes` before reading when Content-Length says so."""
    if announced is not None and announced > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode_content(body: bytes, encoding: str, max_bytes: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip(body, max_bytes)
    raise UnsupportedMediaType(
        f"Content-Encoding {encoding!r} is not supported; send the body uncompressed or gzip",
        "Content-Encoding",
    )


#: Most gzip members one body may hold. Clients compress a body once; thousands of tiny
#: members are a flood (issue 11, finding 6: 200,000 held the event loop 26 s).
MAX_GZIP_MEMBERS = 1000
_FIRST_FEED, _MAX_FEED = 1024, 1024 * 1024  # compressed bytes handed to zlib at a time


def gunzip(body: bytes, max_bytes: int) -> bytes:
    """Every gzip member of `body` (concatenated members are one stream), at most `max_bytes`.

    Linear in the body: zlib is fed slices of it, so what it copies back unused at the end
    of a member is at most one slice, never the rest of the body again. Each member starts
    with a small slice that doubles while the member lasts: tiny members copy little, large
    ones take few calls.
    """
    out: list[bytes] = []
    size, pos, members = 0, 0, 0
    view = memoryview(body)
    while pos < len(body):
        members += 1
        if members > MAX_GZIP_MEMBERS:
            raise BadRequest(
                f"gzip body has more than {MAX_GZIP_MEMBERS} members (concatenated gzip "
                "streams); compress the body as one",
                "Content-Encoding",
            )
        decompressor = zlib.decompressobj(wbits=31)
        feed = _FIRST_FEED
        while not decompressor.eof:
            if pos >= len(body):
                raise BadRequest("gzip body is truncated", "Content-Encoding")
            piece = view[pos : pos + feed]
            feed = min(2 * feed, _MAX_FEED)
            try:
                chunk = decompressor.decompress(piece, max_bytes + 1 - size)
                while decompressor.unconsumed_tail and size + len(chunk) <= max_bytes:
                    out.append(chunk)
                    size += len(chunk)
                    chunk = decompressor.decompress(
                        decompressor.unconsumed_tail, max_bytes + 1 - size
                    )
            except zlib.error as exc:
                raise BadRequest(f"body is not valid gzip: {exc}", "Content-Encoding") from None
            out.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"gzip body expands past the limit of {max_bytes} bytes", "Content-Encoding"
                )
            pos += len(piece) - len(decompressor.unused_data) - len(decompressor.unconsumed_tail)
    return b"".join(out)
