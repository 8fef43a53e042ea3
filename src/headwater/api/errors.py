"""One JSON error shape for every HTTP error: {"errors":[{"message": ..., "path": ...}]}."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Response
from litestar.exceptions import HTTPException

from headwater.api.asgi import ASGIApp, Message, Receive, Scope, Send
from headwater.api.services import AnyRequest
from headwater.errors import HeadwaterError, StoreError

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


#: Set in the ASGI scope when the client went away before its request was read.
DISCONNECTED = "headwater.client_disconnected"
CLIENT_GONE = "the client disconnected before sending the whole request body"
STORE_UNAVAILABLE = "the database is unavailable; retry shortly (the server log has details)"
STORE_FAILED = "the database refused the request (the server log has details)"


def noting_disconnects(app: ASGIApp) -> ASGIApp:
    """Mark the scope when `receive` reports a disconnect before the response started: a
    client that half-closes or sends a broken chunked body is at fault, not the server
    (issue 11, finding 10), so the error translation answers 400 instead of a 500."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = False

        async def noting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not started:
                scope[DISCONNECTED] = True
            return message

        async def noting_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await app(scope, noting_receive, noting_send)

    return asgi


def client_message(exc: HeadwaterError) -> str:
    """What the client is told. A store's own words name its backend and its internals
    (finding 7): they go to the log, the client gets a generic sentence."""
    if isinstance(exc, StoreError):
        log.warning("store error answered %d: %s", exc.status, exc.message)
        return STORE_UNAVAILABLE if exc.status == 503 else STORE_FAILED
    return exc.message


def headwater_error(request: AnyRequest, exc: HeadwaterError) -> Response[bytes]:
    if request.scope.get(DISCONNECTED):
        return error_response(400, CLIENT_GONE)
    return error_response(exc.status, client_message(exc), exc.path, error_headers(exc) or None)


def http_error(request: AnyRequest, exc: HTTPException) -> Response[bytes]:
    if request.scope.get(DISCONNECTED):
        return error_response(400, CLIENT_GONE)
    message = exc.detail or "error"
    if exc.status_code == 413:
        message = "request body is larger than the configured limit (max_body_bytes)"
    headers = {
        k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")
    }
    return error_response(exc.status_code, message, headers=headers or None)


def unexpected_error(request: AnyRequest, exc: Exception) -> Response[bytes]:
    if request.scope.get(DISCONNECTED):
        log.info("client disconnected mid-request: %r", exc)
        return error_response(400, CLIENT_GONE)
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal server error; the request was not processed")


HANDLERS: dict[int | type[Exception], Any] = {
    HeadwaterError: headwater_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
