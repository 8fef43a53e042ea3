"""API-key authentication and project scoping (reference §3, invariant 6).

A key belongs to one project. A valid key used on another project's path answers
404, exactly as a project that does not exist, so keys cannot probe for tenants.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from headwater.errors import Forbidden, NotFound, Unauthorized
from headwater.store.base import KeyRecord, Project, Source, Store
from headwater.tenancy import keys

log = logging.getLogger("headwater.auth")


@dataclasses.dataclass(frozen=True)
class Principal:
    project: Project
    key_prefix: str


class Authenticator:
    def __init__(self, store: Store, cache_seconds: float) -> None:
        self._store = store
        self._ttl = cache_seconds
        self._keys: dict[str, tuple[float, KeyRecord]] = {}
        self._sources: dict[tuple[int, str], Source] = {}
        self._warned: set[str] = set()

    def authenticate(
        self,
        authorization: str | None,
        query_key: str | None,
        org: str,
        project: str,
        scope: str,
        notes: dict[str, Any] | None = None,
    ) -> Principal:
        """The principal; may read the store (async callers: `cached` first, then a thread).

        `notes` (the request's access-log fields) gets the key prefix once the key is verified,
        even when the key is then refused (revoked, another project, a missing scope).
        """
        record = self._cached(authorization, query_key) or self._verify(
            authorization, query_key, notes
        )
        return _admit(record, org, project, scope, notes)

    def cached(
        self,
        authorization: str | None,
        query_key: str | None,
        org: str,
        project: str,
        scope: str,
        notes: dict[str, Any] | None = None,
    ) -> Principal | None:
        """The principal when its key is cached, without any I/O; else None."""
        record = self._cached(authorization, query_key)
        return _admit(record, org, project, scope, notes) if record else None

    def _cached(self, authorization: str | None, query_key: str | None) -> KeyRecord | None:
        # Keyed by the credential as sent, so a cached key costs one dict lookup per request.
        cached = self._keys.get(authorization or f"?{query_key}")
        return cached[1] if cached and cached[0] > time.monotonic() else None

    def _verify(
        self, authorization: str | None, query_key: str | None, notes: dict[str, Any] | None
    ) -> KeyRecord:
        if authorization:
            prefix, secret = keys.from_basic(authorization)
        elif query_key:
            prefix, secret = keys.split_key(query_key)
        else:
            raise Unauthorized(
                "authentication required: send Authorization: Basic base64(prefix:secret)"
            )
        record = self._store.find_key(prefix)
        if record is None or not keys.matches(secret, record.secret_sha256):
            raise Unauthorized("invalid API key")
        if record.revoked:
            if notes is not None:  # a verified key: its prefix names the client to fix
                notes["key_prefix"] = record.prefix
            raise Unauthorized("this API key has been revoked")
        if not authorization and prefix not in self._warned:  # once per valid key: bounded
            self._warned.add(prefix)
            log.warning(
                "API key received via the apiKey query parameter; this is deprecated and "
                "insecure, send Authorization: Basic instead",
                extra={"key_prefix": prefix},
            )
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[authorization or f"?{query_key}"] = (time.monotonic() + self._ttl, record)
        return record

    def cached_source(self, project: Project, source_id: str) -> Source | None:
        return self._sources.get((project.id, source_id))

    def source(self, project: Project, source_id: str) -> Source:
        """The project's source, or NotFound naming it (sources are never deleted, so cached)."""
        found = self._sources.get((project.id, source_id))
        if found is None:
            found = self._store.find_source(project.id, source_id)
            if found is None:
                raise NotFound(
                    f"source {source_id!r} not found in project {project.org}/{project.slug}",
                    "sourceId",
                )
            self._sources[(project.id, source_id)] = found
        return found


def _admit(
    record: KeyRecord, org: str, project: str, scope: str, notes: dict[str, Any] | None
) -> Principal:
    if notes is not None:
        notes["key_prefix"] = record.prefix
    if record.project.org != org or record.project.slug != project:
        raise NotFound(f"project {org}/{project} not found")
    if scope not in record.scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope")
    return Principal(record.project, record.prefix)
