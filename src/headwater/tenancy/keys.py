"""API keys: `prefix.secret`; only a SHA-256 of the secret is stored.

Secrets are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from headwater.errors import Unauthorized

SCOPES = ("ingest", "read", "admin")


def new_key() -> tuple[str, str]:
    """A fresh (prefix, secret)."""
    return secrets.token_hex(8), secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def split_key(key: str) -> tuple[str, str]:
    """(prefix, secret) of `prefix.secret`, split on the first dot as the SDKs do."""
    prefix, dot, secret = key.partition(".")
    if not dot or not prefix or not secret:
        raise Unauthorized('malformed API key: expected "<prefix>.<secret>"')
    return prefix, secret


def from_basic(header: str) -> tuple[str, str]:
    """(prefix, secret) from `Authorization: Basic base64(prefix:secret)`."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("expected an Authorization: Basic header")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Authorization: Basic credentials are not valid base64") from None
    prefix, colon, secret = decoded.partition(":")
    if not colon or not prefix or not secret:
        raise Unauthorized('Authorization: Basic credentials must be "<prefix>:<secret>"')
    return prefix, secret


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)
