"""The catalog's SQL, common to both backends: products, their categories, imports.

Thin on purpose: which version of a field wins is decided by `catalog.merge`; this module
loads the products a change touches, hands them to it, and writes back what changed.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import msgspec

from headwater.catalog import merge
from headwater.catalog.merge import ProductChange, StoredProduct
from headwater.catalog.product import encode
from headwater.store.base import ApplyCounts, ImportRecord, ProductFilter, ProductRecord
from headwater.store.statements import (
    INSERT_QUARANTINE,
    Connection,
    in_lists,
    insert_rows,
    placeholders,
)

_PRODUCT = "id, document, removed_at, created_at, updated_at"
_IMPORT = (
    "id, format, source, full_sync, status, started_at, finished_at, created, updated, "
    "unchanged, removed, rejected, error, rejections"
)
_SAVE = (
    "INSERT INTO products (project_id, id, document, versions, title, title_search, brand, "
    "availability, created_at, updated_at, removed_at)"
)
_SAVE_CONFLICT = (
    "ON CONFLICT (project_id, id) DO UPDATE SET document = excluded.document, "
    "versions = excluded.versions, title = excluded.title, "
    "title_search = excluded.title_search, brand = excluded.brand, "
    "availability = excluded.availability, updated_at = excluded.updated_at, "
    "removed_at = excluded.removed_at"
)


class CatalogSQL(abc.ABC):
    #: Longest multi-row insert a backend should get (`insert_rows`); None: no bound.
    statement_chars: int | None = None

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Connection]: ...

    @abc.abstractmethod
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def _catalog_transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction for imports and product removals: the writer's by default;
        a backend with concurrent writers gives imports their own connection."""
        return self._transaction()

    @abc.abstractmethod
    def _lock_products(self, conn: Connection, project_id: int) -> None:
        """Serialize the read-merge-write of one project's products across writers."""

    @abc.abstractmethod
    def analyze_catalog(self) -> None:
        """Refresh the planner's statistics of the catalog tables, where a backend has them."""

    # -- writes --------------------------------------------------------------------

    def apply_products(
        self,
        project_id: int,
        changes: Sequence[ProductChange],
        now: int,
        quarantine: Sequence[Sequence[object]] = (),
        seen: tuple[int, Iterable[str]] | None = None,
    ) -> ApplyCounts:
        """Apply `changes` in order, quarantine rejected products and record the ids a --full
        import has seen (`seen` = (import id, ids)), in one transaction."""
        with self._catalog_transaction() as conn:
            counts = self._apply_products(conn, project_id, changes, now)
            if quarantine:
                conn.executemany(INSERT_QUARANTINE, quarantine)
            if seen is not None:
                import_id, ids = seen
                rows = [(import_id, i) for i in sorted(set(ids))]
                if rows:
                    insert_rows(
                        conn,
                        "INSERT INTO catalog_import_seen (import_id, product_id)",
                        rows,
                        "ON CONFLICT DO NOTHING",
                        self.statement_chars,
                    )
        return counts

    def _apply_products(
        self, conn: Connection, project_id: int, changes: Sequence[ProductChange], now: int
    ) -> ApplyCounts:
        counts = ApplyCounts()
        if not changes:
            return counts
        self._lock_products(conn, project_id)
        stored = self._stored(conn, project_id, {c.id for c in changes})
        before = dict(stored)
        for change in changes:
            current = stored.get(change.id)
            result = merge.apply(current, change.id, change.fields, change.version, change.whole)
            if current is None:
                counts.created += 1
            elif merge.same(current, result):
                counts.unchanged += 1
                if change.whole or result.versions == current.versions:
                    continue  # nothing a reader sees changed: not rewritten
                # A partial update's removal of an absent field: its time must be kept, or
                # an older update arriving later would set the field again.
            else:
                counts.updated += 1
            stored[change.id] = result
        written = [p for i, p in stored.items() if before.get(i) is not p]
        self._save(conn, project_id, written, {i: before.get(i) for i in stored}, now)
        return counts

    def _stored(self, conn: Connection, project_id: int, ids: set[str]) -> dict[str, StoredProduct]:
        found: dict[str, StoredProduct] = {}
        for chunk in in_lists(ids):
            rows = conn.execute(
                "SELECT id, document, versions, removed_at FROM products "
                f"WHERE project_id = ? AND id IN ({placeholders(chunk)})",
                [project_id, *chunk],
            ).fetchall()
            for id_, document, versions, removed_at in rows:
                found[id_] = StoredProduct(
                    id_,
                    msgspec.json.decode(document),
                    {k: tuple(v) for k, v in msgspec.json.decode(versions).items()},
                    removed_at,
                    document,
                )
        return found

    def _save(
        self,
        conn: Connection,
        project_id: int,
        products: list[StoredProduct],
        before: dict[str, StoredProduct | None],
        now: int,
    ) -> None:
        if not products:
            return
        products.sort(key=lambda p: p.id)  # one lock order for every writer
        insert_rows(
            conn,
            _SAVE,
            [
                (project_id, p.id, encode(p.document), msgspec.json.encode(p.versions).decode(),
                 p.document.get("title"), _search(p.document.get("title")),
                 p.document.get("brand"),
                 p.document.get("availability"), now, now, p.removed_at)
                for p in products
            ],
            _SAVE_CONFLICT,
            self.statement_chars,
        )  # fmt: skip
        changed = [
            p for p in products
            if (old := before.get(p.id)) is None
            or old.document.get("category") != p.document.get("category")
        ]  # fmt: skip
        stale = [p.id for p in changed if before.get(p.id) is not None]
        for ids in in_lists(stale):
            conn.execute(
                f"DELETE FROM product_categories WHERE project_id = ? "
                f"AND product_id IN ({placeholders(ids)})",
                [project_id, *ids],
            )
        rows = {
            (project_id, category, p.id)
            for p in changed
            for category in p.document.get("category") or ()
        }
        if rows:
            insert_rows(
                conn,
                "INSERT INTO product_categories (project_id, category, product_id)",
                sorted(rows),
                "",
                self.statement_chars,
            )

    def remove_product(self, project_id: int, product_id: str, now: int) -> bool:
        """Flag the product removed; False when there is no such active product."""
        with self._catalog_transaction() as conn:
            self._lock_products(conn, project_id)
            return bool(
                conn.execute(
                    "UPDATE products SET removed_at = ?, updated_at = ? "
                    "WHERE project_id = ? AND id = ? AND removed_at IS NULL",
                    (now, now, project_id, product_id),
                ).rowcount
            )

    # -- imports -------------------------------------------------------------------

    def start_import(self, project_id: int, fmt: str, source: str, full: bool, now: int) -> int:
        with self._catalog_transaction() as conn:
            (import_id,) = conn.execute(
                "INSERT INTO catalog_imports (project_id, format, source, full_sync, status, "
                "started_at) VALUES (?, ?, ?, ?, 'running', ?) RETURNING id",
                (project_id, fmt, source, int(full), now),
            ).fetchone()
        return int(import_id)

    def remove_unseen(self, project_id: int, import_id: int, now: int) -> int:
        """Flag every active product the --full import did not see; how many."""
        with self._catalog_transaction() as conn:
            self._lock_products(conn, project_id)
            return conn.execute(
                "UPDATE products SET removed_at = ?, updated_at = ? "
                "WHERE project_id = ? AND removed_at IS NULL AND NOT EXISTS ("
                "SELECT 1 FROM catalog_import_seen s "
                "WHERE s.import_id = ? AND s.product_id = products.id)",
                (now, now, project_id, import_id),
            ).rowcount

    def finish_import(self, record: ImportRecord) -> None:
        with self._catalog_transaction() as conn:
            conn.execute("DELETE FROM catalog_import_seen WHERE import_id = ?", (record.id,))
            conn.execute(
                "UPDATE catalog_imports SET format = ?, status = ?, finished_at = ?, created = ?, "
                "updated = ?, unchanged = ?, removed = ?, rejected = ?, error = ?, "
                "rejections = ? WHERE id = ?",
                (record.format, record.status, record.finished_at, record.created, record.updated,
                 record.unchanged, record.removed, record.rejected, record.error,
                 json.dumps(record.rejections), record.id),
            )  # fmt: skip

    def list_imports(
        self, project_id: int, before_id: int | None, limit: int
    ) -> list[ImportRecord]:
        sql = f"SELECT {_IMPORT} FROM catalog_imports WHERE project_id = ?"
        params: list[object] = [project_id]
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        rows = self._read(f"{sql} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [_import_record(project_id, row) for row in rows]

    # -- reads ---------------------------------------------------------------------

    def known_products(self, project_id: int, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are in the catalog (removed ones included)."""
        found: set[str] = set()
        for chunk in in_lists(ids):
            rows = self._read(
                f"SELECT id FROM products WHERE project_id = ? AND id IN ({placeholders(chunk)})",
                [project_id, *chunk],
            )
            found.update(i for (i,) in rows)
        return found

    def get_product(self, project_id: int, product_id: str) -> ProductRecord | None:
        rows = self._read(
            f"SELECT {_PRODUCT} FROM products WHERE project_id = ? AND id = ?",
            (project_id, product_id),
        )
        return _product_record(rows[0]) if rows else None

    def list_products(self, project_id: int, where: ProductFilter) -> list[ProductRecord]:
        clauses = ["project_id = ?"]
        params: list[object] = [project_id]
        if where.status == "active":
            clauses.append("removed_at IS NULL")
        elif where.status == "removed":
            clauses.append("removed_at IS NOT NULL")
        for column, value in (("brand", where.brand), ("availability", where.availability)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if where.category is not None:
            clauses.append(
                "id IN (SELECT product_id FROM product_categories "
                "WHERE project_id = ? AND category = ?)"
            )
            params += [project_id, where.category]
        if where.text is not None:
            escaped = _search(where.text) or ""
            for special in ("\\", "%", "_"):  # LIKE wildcards match themselves
                escaped = escaped.replace(special, "\\" + special)
            clauses.append("title_search LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if where.after is not None:
            clauses.append("id > ?")
            params.append(where.after)
        rows = self._read(
            f"SELECT {_PRODUCT} FROM products WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            [*params, where.limit],
        )
        return [_product_record(row) for row in rows]


def _search(title: Any) -> str | None:
    """The form of a title that `q` matches: lower-cased by Python (SQL's lower() is
    ASCII-only on SQLite)."""
    return title.lower() if isinstance(title, str) else None


def _product_record(row: tuple[Any, ...]) -> ProductRecord:
    id_, document, removed_at, created_at, updated_at = row
    return ProductRecord(id_, json.loads(document), removed_at, created_at, updated_at)


def _import_record(project_id: int, row: tuple[Any, ...]) -> ImportRecord:
    (id_, fmt, source, full, status, started, finished, created, updated, unchanged, removed,
     rejected, error, rejections) = row  # fmt: skip
    return ImportRecord(
        id_, project_id, fmt, source, bool(full), status, started, finished, created, updated,
        unchanged, removed, rejected, error, json.loads(rejections),
    )  # fmt: skip
