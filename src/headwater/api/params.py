"""Text from paths and query strings, checked before it reaches a store (issue 11, finding 7).

Two layers, one rule set (`rules.check_string`):
- `checked_text`, in front of every route (track included), refuses a path segment or query
  value whose percent-encoded bytes are not UTF-8 (`%ED%A0%80`, a surrogate in CESU-8 bytes)
  or hold NUL: servers decode the first to U+FFFD (stored as three of them), and PostgreSQL
  refuses the second with an error that used to reach the client as a 500.
- `text` / `optional`, called by each route for the values it passes on: length and NUL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote_to_bytes

from headwater.api.asgi import ASGIApp, Receive, Scope, Send, respond
from headwater.api.errors import error_body
from headwater.errors import BadRequest
from headwater.model import rules


def text(name: str, value: str, max_length: int) -> str:
    """`value` when it is at most `max_length` characters without NUL; else BadRequest."""
    try:
        rules.check_string(name, value, max_length)
    except rules.Invalid as bad:
        raise BadRequest(f"{name} {bad.message}", name) from None
    return value


def optional(params: Mapping[str, str], name: str, max_length: int) -> str | None:
    value = params.get(name)
    return None if value is None else text(name, value, max_length)


def checked_text(app: ASGIApp, templates: Iterable[str]) -> ASGIApp:
    """Answer 400 for text no store should see in the path or query; else hand on to `app`.
    `templates` (such as "/v1/{org}/projects/{project}/track") name a bad path segment."""
    shapes = [template.strip("/").split("/") for template in templates]

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            bad = _bad_text(scope, shapes)
            if bad is not None:
                await respond(send, 400, error_body(f"{bad.path} {bad.message}", bad.path))
                return
        await app(scope, receive, send)

    return asgi


def _bad_text(scope: Scope, shapes: list[list[str]]) -> rules.Invalid | None:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    segments = raw.partition(b"?")[0].strip(b"/").split(b"/")
    for i, segment in enumerate(segments):
        rule = _rule(unquote_to_bytes(segment))
        if rule is not None:
            return rules.Invalid(_segment_name(shapes, segments, i), rule, "content")
    for pair in scope.get("query_string", b"").split(b"&"):
        key, _, value = pair.partition(b"=")
        rule = _rule(unquote_to_bytes(value.replace(b"+", b" ")))
        if rule is not None:
            name = unquote_to_bytes(key).decode("utf-8", "backslashreplace")
            return rules.Invalid(name.replace("\x00", "\\u0000"), rule, "content")
    return None


def _rule(value: bytes) -> str | None:
    if b"\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    try:
        value.decode("utf-8")  # strict: refuses encoded surrogates such as %ED%A0%80
    except UnicodeDecodeError:
        return "must be UTF-8 text: its percent-encoded bytes are not valid UTF-8"
    return None


def _segment_name(shapes: list[list[str]], segments: list[bytes], i: int) -> str:
    """The route parameter at segment `i` (`name` of "{name:str}"), as the wire spells it
    (`account_id` is `accountId`), else "path"."""
    for shape in shapes:
        if len(shape) != len(segments) or not shape[i].startswith("{"):
            continue
        literal = all(
            part.startswith("{") or part.encode() == segments[j] for j, part in enumerate(shape)
        )
        if literal:
            first, *rest = shape[i].strip("{}").partition(":")[0].split("_")
            return first + "".join(word.title() for word in rest)
    return "path"
