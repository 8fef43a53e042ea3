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


def gunzip(body: bytes, max_bytes: int) -> bytes:
    """Every gzip member of `body` (concatenated members are one stream), at most `max_bytes`."""
    out = b""
    rest = body
    while rest:
        decompressor = zlib.decompressobj(wbits=31)
        try:
            out += decompressor.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise BadRequest(f"body is not valid gzip: {exc}", "Content-Encoding") from None
        if len(out) > max_bytes:
            raise PayloadTooLarge(
                f"gzip body expands past the limit of {max_bytes} bytes", "Content-Encoding"
            )
        if not decompressor.eof:
            raise BadRequest("gzip body is truncated", "Content-Encoding")
        rest = decompressor.unused_data
    return out
