"""CORS for browser SDKs (reference §4): preflights for Authorization and Content-Type.

One ASGI layer for every route, the raw track path included. Keys travel in headers, never
in cookies, so credentials are not allowed and `*` is a safe default.
"""

from __future__ import annotations

from headwater.api.asgi import ASGIApp, Message, Receive, Scope, Send, header

ALLOW_METHODS = b"GET, POST, OPTIONS"
ALLOW_HEADERS = b"Authorization, Content-Type, Content-Encoding, X-Intempt-Lib"
MAX_AGE = b"86400"


def cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    allow_any = "*" in origins
    allowed = {o.encode() for o in origins}

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        origin = header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None or not (allow_any or origin in allowed):
            await app(scope, receive, send)
            return
        granted = [(b"access-control-allow-origin", b"*" if allow_any else origin)]
        if not allow_any:
            granted.append((b"vary", b"Origin"))
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
            granted += [
                (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", ALLOW_HEADERS),
                (b"access-control-max-age", MAX_AGE),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": granted})
            await send({"type": "http.response.body", "body": b""})
            return
        granted.append((b"access-control-expose-headers", b"Retry-After"))

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *granted]
            await send(message)

        await app(scope, receive, send_with_cors)

    return asgi
