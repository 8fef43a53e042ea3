"""Suppressed identifiers: an erased person's identifiers whose later events are refused.

Stored as a keyed SHA-256 (HMAC) of kind and identifier under a random per-project salt, so
the table never holds an identifier: it can confirm a guess, not list who was erased.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from headwater.identity.links import PROFILE, USER

KINDS = (USER, PROFILE)


def new_salt() -> str:
    return secrets.token_hex(32)


def digest(salt: str, kind: str, identifier: str) -> str:
    message = f"{kind}\x00{identifier}".encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()
