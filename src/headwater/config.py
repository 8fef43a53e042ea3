"""Every setting once: name, type, default and help, as fields of `Settings`.

Each setting `name` is read from the environment variable `HEADWATER_NAME`; CLI flags
override it. `docs/settings.md` lists them all (a test fails when one is missing).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from headwater.errors import ConfigError
from headwater.identity.resolve import MAX_PROFILES, MAX_USERS, Caps

T = TypeVar("T")


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": _boolean}


def _setting(default: T, help: str) -> T:
    return dataclasses.field(default=default, metadata={"help": help})


def env_name(name: str) -> str:
    return f"HEADWATER_{name.upper()}"


@dataclasses.dataclass(frozen=True)
class Settings:
    db: str = _setting("headwater.db", "Path of the embedded SQLite database file.")
    database_url: str = _setting(
        "",
        "Database URL, overriding `db`: `postgresql://user@host:5432/dbname` for PostgreSQL "
        "(a libpq URL; `?options=-csearch_path%3Dname` selects a schema), "
        "`sqlite:///PATH` for SQLite.",
    )
    pg_pool_min_size: int = _setting(
        1, "PostgreSQL: read connections each server process keeps open."
    )
    pg_pool_max_size: int = _setting(
        10, "PostgreSQL: most read connections per server process (the writer has its own)."
    )
    pg_pool_timeout: float = _setting(
        5.0,
        "PostgreSQL: seconds a request waits for a connection; then 503 with Retry-After "
        "(also how long start-up waits for the database).",
    )
    host: str = _setting("127.0.0.1", "Address the HTTP server binds to.")
    port: int = _setting(8080, "Port the HTTP server listens on.")
    workers: int = _setting(1, "Server processes; each has its own writer thread.")
    reuse_port: bool = _setting(
        False,
        "Let several servers listen on one host and port (SO_REUSEPORT; each must set it): the "
        "kernel then splits connections between them, e.g. to replace a server without "
        "downtime. Off, `serve` refuses an address already in use.",
    )
    header_timeout_seconds: float = _setting(
        10.0,
        "Most seconds a connection may take to send a request's headers, counted from when it "
        "opens or its previous response ends (so also how long an idle keep-alive connection "
        "stays open); then the server closes it.",
    )
    max_body_bytes: int = _setting(
        5 * 1024 * 1024, "Largest request body in bytes (after gzip decoding); larger gets 413."
    )
    max_items_per_request: int = _setting(
        2000, "Most payload items in one track request; more gets 413."
    )
    max_string_length: int = _setting(
        256, "Longest identifier, event name, `type` or ISO timestamp string, in characters."
    )
    max_object_bytes: int = _setting(
        64 * 1024, "Largest JSON size in bytes of `data` and of each attributes object of an item."
    )
    max_object_depth: int = _setting(
        10, "Deepest nesting of `data` and attributes objects (an object of scalars is depth 1)."
    )
    max_future_skew_seconds: int = _setting(
        24 * 3600, "How far past the receive time an event `timestamp` may lie; later is rejected."
    )
    max_profiles_per_person: int = _setting(
        MAX_PROFILES,
        "Most profileIds (devices, browsers) one person holds; later links are refused.",
    )
    max_users_per_person: int = _setting(
        MAX_USERS,
        "Most userIds one person holds; an alias (`anotherUserId`) that would merge persons "
        "past it is refused and recorded, and they stay apart.",
    )
    max_product_bytes: int = _setting(
        64 * 1024,
        "Largest catalog product in bytes (its JSON, or the text of its XML element); "
        "a larger one is rejected and quarantined.",
    )
    catalog_max_feed_bytes: int = _setting(
        4 * 1024**3,
        "Largest catalog feed read from an upload or a URL, in bytes after gzip decoding; "
        "past it the import stops as failed (413 on upload).",
    )
    catalog_fetch_timeout_seconds: float = _setting(
        30.0, "How long `catalog import URL` waits to connect, and then for each read."
    )
    catalog_upload_idle_seconds: float = _setting(
        60.0,
        "How long a feed upload (`POST …/catalog/imports`) may send nothing; then it fails "
        "and frees its import slot.",
    )
    catalog_upload_min_bytes_per_second: int = _setting(
        16 * 1024,
        "Slowest average pace of a feed upload: beyond its first `catalog_upload_idle_seconds`, "
        "every second the server waits for it must have brought this many bytes, or it fails "
        "and frees its import slot (0: no minimum).",
    )
    session_timeout_minutes: int = _setting(
        30, "Inactivity that ends a session, for events without a client sessionId."
    )
    writer_batch_events: int = _setting(
        5000, "Most events the writer commits in one transaction (group commit size bound)."
    )
    writer_max_wait_ms: float = _setting(
        0.0,
        "How long the writer waits for more requests before committing a batch that is not full; "
        "0 commits whatever queued while the previous commit ran.",
    )
    writer_queue_events: int = _setting(
        100_000, "Most events waiting for the writer; past it track answers 503 with Retry-After."
    )
    sqlite_synchronous: str = _setting(
        "FULL",
        "SQLite `synchronous` pragma: FULL (an acknowledged event survives power loss) "
        "or NORMAL (survives a process crash only).",
    )
    key_cache_seconds: float = _setting(
        5.0, "How long a verified API key stays cached; a revoked key works at most this long."
    )
    cors_origins: str = _setting(
        "*", "Comma-separated browser origins allowed by CORS; `*` allows any origin."
    )
    log_level: str = _setting("INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")
    access_log: bool = _setting(
        True,
        "One JSON line per request on stderr (logger `headwater.access`, level INFO, whatever "
        "`log_level` says): method, route template, status, duration, key prefix, item counts.",
    )
    retention_days: int = _setting(
        0,
        "Days of events `headwater events prune` keeps, by event time; older events are "
        "deleted when it runs. 0 keeps every event.",
    )

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then `HEADWATER_*` variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if env_name(field.name) in env:
                values[field.name] = _parse(field, env[env_name(field.name)])
        known = {f.name: f for f in dataclasses.fields(cls)}
        for name, raw in (overrides or {}).items():
            if raw is None:
                continue
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}")
            values[name] = _parse(known[name], raw)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type in ("int", "float") and value < 0:
                raise ConfigError(f"setting {field.name} must not be negative, got {value}")
        for name in (
            "port",
            "workers",
            "max_body_bytes",
            "max_items_per_request",
            "max_string_length",
            "max_object_bytes",
            "max_object_depth",
            "writer_batch_events",
            "writer_queue_events",
            "pg_pool_max_size",
            "max_profiles_per_person",
            "max_users_per_person",
            "session_timeout_minutes",
            "max_product_bytes",
            "catalog_max_feed_bytes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name} must be at least 1, got {getattr(self, name)}")
        if self.header_timeout_seconds <= 0:
            raise ConfigError("setting header_timeout_seconds must be more than 0")
        if self.catalog_upload_idle_seconds <= 0:
            raise ConfigError("setting catalog_upload_idle_seconds must be more than 0")
        if self.pg_pool_min_size > self.pg_pool_max_size:
            raise ConfigError("setting pg_pool_min_size must not exceed pg_pool_max_size")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"setting log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}"
            )
        if self.sqlite_synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigError(
                "setting sqlite_synchronous must be FULL or NORMAL, "
                f"got {self.sqlite_synchronous!r}"
            )

    def as_env(self) -> dict[str, str]:
        """The settings as `HEADWATER_*` variables, to hand to server worker processes."""
        return {env_name(f.name): str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @property
    def caps(self) -> Caps:
        """The identity caps: identifiers one person holds at most."""
        return Caps(self.max_profiles_per_person, self.max_users_per_person)

    @property
    def store(self) -> tuple[str, str]:
        """(backend, location): ("sqlite", path) or ("postgres", url); ConfigError otherwise."""
        url = self.database_url
        if not url:
            return "sqlite", self.db
        if url.startswith("sqlite:///"):
            return "sqlite", url.removeprefix("sqlite:///")
        if url.startswith(("postgresql://", "postgres://")):
            return "postgres", url
        raise ConfigError(
            f"unsupported database URL {url!r}: expected postgresql://… or sqlite:///PATH"
        )

    @property
    def store_label(self) -> str:
        """Where the data lives, for humans: the SQLite path or the URL without a password."""
        backend, location = self.store
        if backend == "sqlite":
            return location
        hidden = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", location)
        return re.sub(r"([?&]password=)[^&]*", r"\1***", hidden)


def _parse(field: dataclasses.Field[Any], raw: Any) -> Any:
    kind = str(field.type)
    try:
        return _TYPES[kind](raw)
    except (TypeError, ValueError) as exc:
        expected = "true or false" if kind == "bool" else kind
        raise ConfigError(
            f"setting {field.name} ({env_name(field.name)}): expected {expected}, got {raw!r}"
        ) from exc


def describe() -> list[tuple[str, str, str, str]]:
    """(name, environment variable, default, help) of every setting, for docs and tests."""
    return [
        (f.name, env_name(f.name), repr(f.default), str(f.metadata["help"]))
        for f in dataclasses.fields(Settings)
    ]
