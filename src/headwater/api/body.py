"""Request bodies: size limits and Content-Encoding (gzip is accepted, bounded)."""

from __future__ import annotations

import zlib

from headwater.api.services import AnyRequest
from headwater.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


async def read_body(request: AnyRequest, max_bytes: int) -> bytes:
    """The decoded body. Litestar already answers 413 past `max_bytes` on the wire."""
    body = await request.body()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip(body, max_bytes)
    raise UnsupportedMediaType(
        f"Content-Encoding {encoding!r} is not supported; send the body uncompressed or gzip",
        "Content-Encoding",
    )


def gunzip(body: bytes, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=31)
    try:
        out = decompressor.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}", "Content-Encoding") from None
    if len(out) > max_bytes:
        raise PayloadTooLarge(
            f"gzip body expands past the limit of {max_bytes} bytes", "Content-Encoding"
        )
    if not decompressor.eof:
        raise BadRequest("gzip body is truncated", "Content-Encoding")
    return out
