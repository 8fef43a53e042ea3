"""One exception tree; the HTTP and CLI edges translate it."""

from __future__ import annotations


class HeadwaterError(Exception):
    """Base of every error Headwater raises on purpose."""

    status = 500

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class ConfigError(HeadwaterError):
    """A setting or command-line value is invalid."""

    status = 500


class BadRequest(HeadwaterError):
    """The request as a whole cannot be read (malformed JSON, wrong envelope)."""

    status = 400


class Unauthorized(HeadwaterError):
    status = 401


class Forbidden(HeadwaterError):
    """The key is valid but lacks the scope this endpoint needs."""

    status = 403


class NotFound(HeadwaterError):
    status = 404


class PayloadTooLarge(HeadwaterError):
    status = 413


class UnsupportedMediaType(HeadwaterError):
    status = 415


class Overloaded(HeadwaterError):
    """The writer queue is full or the store is unavailable; the client should retry."""

    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(HeadwaterError):
    """A storage failure, wrapped at the store boundary."""

    status = 503
