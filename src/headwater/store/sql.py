"""The Store contract implemented once in SQL common to SQLite and PostgreSQL.

A backend supplies connections, transactions, its migrations and its bulk insert of events;
every other query is written here once, with `?` placeholders (the PostgreSQL store
translates them). Backends therefore cannot drift apart on tenancy, reads or quarantine.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from headwater.catalog.merge import ProductChange
from headwater.catalog.track import change_of, is_product
from headwater.errors import BadRequest, Conflict
from headwater.identity.links import links_of
from headwater.identity.resolve import DEFAULT_CAPS, Caps
from headwater.model.event import Batch, EventRow, WriteResult
from headwater.store.backfill import BACKFILLS
from headwater.store.base import (
    ApplyCounts,
    Horizon,
    KeyRecord,
    KeySummary,
    Project,
    ProjectInfo,
    QuarantineEntry,
    Resolved,
    Source,
)
from headwater.store.catalog import CatalogSQL
from headwater.store.events import EventsSQL
from headwater.store.migrations import migrations, schema
from headwater.store.privacy import PrivacySQL
from headwater.store.statements import (
    INSERT_QUARANTINE,
    SELECT_QUARANTINE,
    Connection,
    in_lists,
    matching,
    placeholders,
    quarantine_rows,
)

# Keeps, per pair, the earliest link: the same result in any arrival order (invariant 5).
UPSERT_LINK = (
    "INSERT INTO identity_links (project_id, kind, a, b, timestamp, event_id, line) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, kind, a, b) DO UPDATE SET "
    "timestamp = excluded.timestamp, event_id = excluded.event_id, line = excluded.line "
    "WHERE (excluded.timestamp, excluded.event_id, excluded.line) "
    "< (identity_links.timestamp, identity_links.event_id, identity_links.line)"
)


class SQLStore(CatalogSQL, PrivacySQL, EventsSQL):
    backend: str  # the folder of its migrations

    # -- what a backend supplies ---------------------------------------------------

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction: committed on success, rolled back on error."""

    @abc.abstractmethod
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def _insert_events(self, conn: Connection, batches: Sequence[Sequence[EventRow]]) -> list[int]:
        """Insert each batch's rows, skipping stored keys; how many of each were inserted.

        A key repeated within the call counts for its first batch only (invariant 2).
        """

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def _tables(self, conn: Connection) -> set[str]:
        """The names of the tables in the store's schema."""

    @abc.abstractmethod
    def _lock_for_migrations(self, conn: Connection) -> None:
        """Serialize concurrent migrators inside the migration transaction."""

    # -- schema --------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Bring the schema up to date; the migration versions this applied.

        An empty database gets `schema.sql` whole; one that has `schema_migrations` gets the
        numbered migrations it lacks, in order, each with its Python step (store/backfill.py).
        """
        with self._transaction() as conn:
            self._lock_for_migrations(conn)
            tables = self._tables(conn)
            if not tables:
                for statement in _statements(schema(self.backend)):
                    conn.execute(statement)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"
            )
            done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            applied = []
            for version, script in migrations(self.backend):
                if version in done:
                    continue
                if tables:
                    for statement in _statements(script):
                        conn.execute(statement)
                    if version in BACKFILLS:
                        BACKFILLS[version](conn, self.arrays)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
                applied.append(version)
        return applied

    def has_schema(self) -> bool:
        with self._transaction() as conn:
            return "schema_migrations" in self._tables(conn)

    def ping(self) -> None:
        self._read("SELECT 1")

    # -- tenancy -------------------------------------------------------------------

    def ensure_project(self, org: str, project: str, now: int) -> tuple[Project, bool]:
        found = self.find_project(org, project)
        if found:
            return found, False
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO orgs (slug, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (org, now),
            )
            (org_id,) = conn.execute("SELECT id FROM orgs WHERE slug = ?", (org,)).fetchone()
            created = conn.execute(
                "INSERT INTO projects (org_id, slug, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (org_id, project, now),
            ).rowcount
            (project_id,) = conn.execute(
                "SELECT id FROM projects WHERE org_id = ? AND slug = ?", (org_id, project)
            ).fetchone()
        return Project(project_id, org, project), created == 1

    def find_project(self, org: str, project: str) -> Project | None:
        rows = self._read(
            "SELECT p.id FROM projects p JOIN orgs o ON o.id = p.org_id "
            "WHERE o.slug = ? AND p.slug = ?",
            (org, project),
        )
        return Project(rows[0][0], org, project) if rows else None

    def has_projects(self) -> bool:
        return bool(self._read("SELECT 1 FROM projects LIMIT 1"))

    def list_projects(self) -> list[ProjectInfo]:
        rows = self._read(
            "SELECT p.id, o.slug, p.slug, p.created_at FROM projects p "
            "JOIN orgs o ON o.id = p.org_id ORDER BY o.slug, p.slug"
        )
        return [ProjectInfo(Project(i, org, slug), created) for i, org, slug, created in rows]

    def ensure_source(self, project_id: int, name: str, source_id: str, now: int) -> Source:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO sources (project_id, id, name, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (project_id, source_id, name, now),
            )
            found = conn.execute(
                "SELECT id FROM sources WHERE project_id = ? AND name = ?", (project_id, name)
            ).fetchone()
        if found is None:
            raise BadRequest(f"source id {source_id} is already used by another source", "id")
        return Source(project_id, found[0], name)

    def find_source(self, project_id: int, source_id: str) -> Source | None:
        rows = self._read(
            "SELECT name FROM sources WHERE project_id = ? AND id = ?", (project_id, source_id)
        )
        return Source(project_id, source_id, rows[0][0]) if rows else None

    def list_sources(self, project_id: int) -> list[Source]:
        rows = self._read(
            "SELECT id, name FROM sources WHERE project_id = ? ORDER BY created_at, id",
            (project_id,),
        )
        return [Source(project_id, i, n) for i, n in rows]

    def create_key(
        self, project_id: int, prefix: str, secret_sha256: str, scopes: Sequence[str], now: int
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (prefix, project_id, secret_sha256, scopes, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (prefix, project_id, secret_sha256, ",".join(scopes), now),
            )

    def find_key(self, prefix: str) -> KeyRecord | None:
        rows = self._read(
            "SELECT k.project_id, o.slug, p.slug, k.secret_sha256, k.scopes, k.revoked_at "
            "FROM api_keys k JOIN projects p ON p.id = k.project_id "
            "JOIN orgs o ON o.id = p.org_id WHERE k.prefix = ?",
            (prefix,),
        )
        if not rows:
            return None
        project_id, org, slug, digest, scopes, revoked = rows[0]
        project = Project(project_id, org, slug)
        return KeyRecord(prefix, project, digest, frozenset(scopes.split(",")), revoked is not None)

    def list_keys(self, project_id: int) -> list[KeySummary]:
        rows = self._read(
            "SELECT prefix, scopes, created_at, revoked_at FROM api_keys WHERE project_id = ? "
            "ORDER BY created_at, prefix",
            (project_id,),
        )
        return [KeySummary(p, s.split(","), c, r) for p, s, c, r in rows]

    def revoke_key(self, prefix: str, now: int) -> bool:
        with self._transaction() as conn:
            revoked = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
                (now, prefix),
            ).rowcount
        return revoked == 1

    # -- ingest --------------------------------------------------------------------

    def write(self, batches: Sequence[Batch], caps: Caps = DEFAULT_CAPS) -> list[WriteResult]:
        with self._transaction() as conn:
            self._gate(conn, batches, caps)  # consent and suppression (issue 6)
            applied = self._stored_product_items(conn, batches)
            inserted = self._insert_events(conn, [b.events for b in batches])
            self._upsert_links(conn, [row for b in batches for row in b.events])
            for batch in batches:
                self._apply_product_items(conn, batch, applied)
            rejected = [row for b in batches for row in quarantine_rows(b)]
            if rejected:
                conn.executemany(INSERT_QUARANTINE, rejected)
        return [WriteResult(n, len(b.events) - n) for n, b in zip(inserted, batches, strict=True)]

    def _upsert_links(self, conn: Connection, rows: Sequence[EventRow]) -> None:
        # Sorted: concurrent writers touch the same link rows in one order (no deadlocks).
        links = sorted(links_of(rows))
        if links:
            conn.executemany(UPSERT_LINK, links)

    def _stored_product_items(
        self, conn: Connection, batches: Sequence[Batch]
    ) -> set[tuple[int, str, str, int]]:
        """The dedup keys of the batches' product items already in the event log: those are
        duplicates, and a duplicate must not change the product (invariant 2)."""
        found: set[tuple[int, str, str, int]] = set()
        by_project: dict[int, set[str]] = {}
        for batch in batches:
            for row in batch.events:
                if is_product(row):
                    by_project.setdefault(row.project_id, set()).add(row.event_id)
        for project_id, event_ids in by_project.items():
            for chunk in in_lists(event_ids):
                rows = conn.execute(
                    "SELECT event_id, event_name, line FROM events WHERE project_id = ? "
                    f"AND event_id IN ({placeholders(chunk)})",
                    [project_id, *chunk],
                ).fetchall()
                found.update((project_id, e, n, line) for e, n, line in rows)
        return found

    def _apply_product_items(
        self, conn: Connection, batch: Batch, applied: set[tuple[int, str, str, int]]
    ) -> ApplyCounts:
        """Apply the batch's product items that are not duplicates; `applied` collects their
        keys, so an item repeated within one write counts once."""
        changes = []
        for row in batch.events:
            key = (row.project_id, row.event_id, row.event_name, row.line)
            if is_product(row) and key not in applied:
                applied.add(key)
                changes.append(change_of(row))
        return self._apply_products(conn, batch.ctx.project_id, changes, batch.ctx.received_at)

    # -- reads ---------------------------------------------------------------------

    def attribute_strategies(
        self, project_id: int, names: Iterable[str] | None = None
    ) -> dict[str, str]:
        sql = "SELECT name, strategy FROM attribute_strategies WHERE project_id = ?"
        if names is None:
            return dict(self._read(sql, (project_id,)))
        found: dict[str, str] = {}
        for condition, params in matching("name", names, self.arrays):
            found.update(self._read(f"{sql} AND {condition}", [project_id, *params]))
        return found

    def set_attribute_strategy(self, project_id: int, name: str, strategy: str, now: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO attribute_strategies (project_id, name, strategy, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (project_id, name) DO UPDATE SET "
                "strategy = excluded.strategy, updated_at = excluded.updated_at",
                (project_id, name, strategy, now),
            )

    def list_quarantine(
        self, project_id: int, status: str | None, after_id: int, limit: int
    ) -> list[QuarantineEntry]:
        sql = f"{SELECT_QUARANTINE} WHERE project_id = ? AND id > ?"
        params: list[object] = [project_id, after_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        rows = self._read(f"{sql} ORDER BY id LIMIT ?", [*params, limit])
        return [QuarantineEntry(*row) for row in rows]

    def last_quarantine_id(self, project_id: int) -> int:
        rows = self._read("SELECT max(id) FROM quarantine WHERE project_id = ?", (project_id,))
        return int(rows[0][0] or 0)

    def resolve_quarantine(
        self,
        entry: QuarantineEntry,
        batch: Batch,
        now: int,
        products: Sequence[ProductChange] = (),
        caps: Caps = DEFAULT_CAPS,
    ) -> Resolved:
        with self._transaction() as conn:
            # The privacy lock first, as an erasure takes it: never the other way round.
            self._lock_privacy(conn, [entry.project_id], exclusive=False)
            claimed = conn.execute(
                "UPDATE quarantine SET status = 'replayed', resolved_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (now, entry.id),
            ).rowcount
            if claimed != 1:  # a concurrent replay got there first; roll back, write nothing
                raise Conflict(f"quarantine entry {entry.id} was replayed meanwhile", "ids")
            self._gate(conn, [batch], caps, now)
            if batch.refused:  # refused content is stored nowhere: the entry forgets it
                status = "replayed" if batch.events else "refused"
                conn.execute(
                    "UPDATE quarantine SET status = ?, raw = '' WHERE id = ?", (status, entry.id)
                )
            applied = self._stored_product_items(conn, [batch])
            [inserted] = self._insert_events(conn, [batch.events])
            self._upsert_links(conn, batch.events)
            counts = self._apply_product_items(conn, batch, applied)
            counts.add(self._apply_products(conn, entry.project_id, products, now))
            if batch.rejected:
                conn.executemany(INSERT_QUARANTINE, quarantine_rows(batch))
        return Resolved(inserted, len(batch.events) - inserted, counts)

    def requarantine(self, entry: QuarantineEntry, path: str, reason: str, message: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE quarantine SET path = ?, reason = ?, message = ? WHERE id = ?",
                (path, reason, message, entry.id),
            )

    def count_quarantine(self, project_id: int, status: str | None) -> int:
        sql = "SELECT count(*) FROM quarantine WHERE project_id = ?"
        params: list[object] = [project_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return int(self._read(sql, params)[0][0])

    def dismiss_quarantine(
        self, project_id: int, status: str | None, ids: Sequence[int] | None, up_to: int,
        limit: int, now: int,
    ) -> list[int]:  # fmt: skip
        where = "project_id = ? AND id <= ? AND status <> 'dismissed'"
        params: list[object] = [project_id, up_to]
        if status is not None:
            where += " AND status = ?"
            params.append(status)
        if ids is not None:
            where += f" AND id IN ({placeholders(ids)})"
            params += ids
        with self._transaction() as conn:
            # A writer of personal data like any other: an erasure never reads rows this
            # transaction is emptying.
            self._lock_privacy(conn, [project_id], exclusive=False)
            rows = conn.execute(
                "UPDATE quarantine SET status = 'dismissed', raw = '', resolved_at = ? "
                f"WHERE id IN (SELECT id FROM quarantine WHERE {where} ORDER BY id LIMIT ?) "
                "RETURNING id",
                [now, *params, limit],
            ).fetchall()
        return sorted(int(i) for (i,) in rows)

    # -- events leaving the store --------------------------------------------------

    def event_horizon(self) -> Horizon:
        """One writer at a time commits, so every seq up to the highest is final."""
        (top,) = self._read("SELECT max(seq) FROM events")[0]
        return Horizon(int(top or 0))

    def prune_events(self, project_id: int, before: int, limit: int) -> int:
        with self._transaction() as conn:
            self._lock_privacy(conn, [project_id], exclusive=False)  # as an erasure expects
            return int(
                conn.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
                    "WHERE project_id = ? AND timestamp < ? ORDER BY timestamp, seq LIMIT ?)",
                    (project_id, before, limit),
                ).rowcount
            )


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration file: split on semicolons that end a line."""
    for statement in script.split(";\n"):
        if statement.strip():
            yield statement
