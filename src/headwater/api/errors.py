"""One JSON error shape for every HTTP error: {"errors":[{"message": ..., "path": ...}]}."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Response
from litestar.exceptions import HTTPException

from headwater.api.services import AnyRequest
from headwater.errors import HeadwaterError

log = logging.getLogger("headwater.api")
JSON = "application/json"


def error_body(message: str, path: str | None = None) -> bytes:
    error: dict[str, str] = {"message": message}
    if path:
        error["path"] = path
    return msgspec.json.encode({"errors": [error]})


def error_headers(exc: HeadwaterError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}


def error_response(
    status: int, message: str, path: str | None = None, headers: dict[str, str] | None = None
) -> Response[bytes]:
    body = error_body(message, path)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def headwater_error(_: AnyRequest, exc: HeadwaterError) -> Response[bytes]:
    return error_response(exc.status, exc.message, exc.path, error_headers(exc) or None)


def http_error(_: AnyRequest, exc: HTTPException) -> Response[bytes]:
    message = exc.detail or "error"
    if exc.status_code == 413:
        message = "request body is larger than the configured limit (max_body_bytes)"
    headers = {
        k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")
    }
    return error_response(exc.status_code, message, headers=headers or None)


def unexpected_error(_: AnyRequest, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal server error; the request was not processed")


HANDLERS: dict[int | type[Exception], Any] = {
    HeadwaterError: headwater_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
