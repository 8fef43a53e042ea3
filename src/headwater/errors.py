"""One exception tree; the HTTP and CLI edges translate it."""

from __future__ import annotations


class HeadwaterError(Exception):
    """Base of every error Headwater raises on purpose."""

    status = 500
    retry_after: int | None = None  # seconds, for errors a client should retry

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class ConfigError(HeadwaterError):
    """A setting or command-line value is invalid."""

    status = 500


class ListenError(HeadwaterError):
    """`serve` cannot listen where it was asked to: the address is in use, not local, or not
    permitted."""


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


class Conflict(HeadwaterError):
    """The state changed under the request (another process acted first)."""

    status = 409


class MissingDependency(HeadwaterError):
    """A feature needs an optional package that is not installed."""

    status = 501


class PayloadTooLarge(HeadwaterError):
    status = 413


class UnsupportedMediaType(HeadwaterError):
    status = 415


class Overloaded(HeadwaterError):
    """The writer queue is full; the client should retry."""

    status = 503
    retry_after = 1


class StoreError(HeadwaterError):
    """A storage failure, wrapped at the store boundary."""

    status = 503
    retry_after: int | None = 1


class StoreDataError(StoreError):
    """The database refused the data itself: retrying the same request cannot help."""

    status = 500
    retry_after = None


class StoreUnavailable(StoreError):
    """The database cannot be reached (down, restarting, pool exhausted): retry shortly."""
