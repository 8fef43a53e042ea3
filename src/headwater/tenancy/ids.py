"""Identifier helpers: URL slugs and snowflake-style source ids."""

from __future__ import annotations

import re
import secrets
import time

from headwater.errors import BadRequest

#: Ids count milliseconds from 2010-01-01, so they stay 19 digits for decades.
_EPOCH_MS = 1_262_304_000_000
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")


def snowflake() -> str:
    """A 19-digit, time-ordered id like Intempt's source ids, as a string (never a float)."""
    return str(((int(time.time() * 1000) - _EPOCH_MS) << 22) | secrets.randbits(22))


def check_slug(kind: str, value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise BadRequest(
            f"{kind} must be 1-64 letters, digits, '.', '_', '~' or '-', "
            f"starting with a letter or digit; got {value!r}",
            kind,
        )
    return value


def source_id(value: str | int) -> str:
    """A source id from a JSON string or number, exactly (no float round trip)."""
    if isinstance(value, bool):
        raise BadRequest("source id must be a string or an integer", "id")
    text = str(value)
    if not text or len(text) > 64 or not text.isprintable() or "/" in text:
        raise BadRequest("source id must be 1-64 printable characters without '/'", "id")
    return text
