"""The identity SQL common to both backends: the links that decide persons, loaded in a few
statements whatever their number (issue 11, finding 8), and operators' splits.

Who a person is depends on (identity/resolve.py): the alias closure of their users, the
profile links of those users, and, for each of those profiles, its earliest link not split
off (which decides who owns it). Never every link of a shared device: a kiosk profileId with
50,000 users is one row here (its earliest link), not 50,000. The closure is one recursive
query, not one round trip per hop; a per-row "first n links" join (PostgreSQL: LATERAL;
SQLite: a correlated rowid list) reads each profile's or user's links from the index in
order and stops.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from headwater.identity.links import PROFILE, USER, Link
from headwater.store.statements import IN_CHUNK, Connection, Read, matching

_COLUMNS = "project_id, kind, a, b, timestamp, event_id, line"
_PICK = ", ".join(f"l.{c}" for c in _COLUMNS.split(", "))
#: A history page's bound per profile: links after (timestamp, eventId, line, userId).
Bound = tuple[str, int, str, int, str]


class IdentitySQL(abc.ABC):
    backend: str  # the folder of its migrations: "sqlite" or "postgres"
    #: Whether the backend takes array parameters (`statements.matching`).
    arrays: bool = False

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Connection]: ...

    @abc.abstractmethod
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def _lock_privacy(self, conn: Connection, project_ids: Sequence[int], exclusive: bool) -> None:
        """Writers of a project's personal data hold it shared, an erasure exclusive: an
        erasure never misses rows a concurrent transaction is about to commit."""

    def identity_links(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str],
        read: Read | None = None,
    ) -> list[Link]:  # fmt: skip
        """Every link that decides the persons of `users` and `profiles` and the decisions
        their histories hold but the conflicts of other users on their profiles (paged
        apart, `profile_link_pages`): the alias closure of the users (and of the owners of
        the profiles), every profile link of the users reached, and the earliest link of
        each of those profiles. `read`: a transaction's reads, for decisions taken in it."""
        read = read or self._read
        asked = set(profiles)
        # A split profile's earliest link too: the split is part of its (anonymous) history.
        firsts = self._first_links(read, project_id, asked, split_too=True)
        starts = set(users) | {link.b for link in firsts}
        found = set(firsts) | set(self._closure(read, project_id, USER, starts, profiles=True))
        theirs = {link.a for link in found if link.kind == PROFILE} - asked
        found.update(self._first_links(read, project_id, theirs, split_too=False))
        return sorted(found)

    def person_links(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str], max_profiles: int,
        read: Read | None = None,
    ) -> list[Link]:  # fmt: skip
        """The links that decide who the persons of `users` and `profiles` are, and stay so
        while links naming only those identifiers are added (the ingest gate's persons,
        identity/incremental.py): the earliest links of the profiles, the alias closure of
        the users and of the profiles' owners, and per user reached the first profiles it
        owns, in link order: `max_profiles` of them, plus one for each of `profiles` it owns
        (a profile named later can move to another person, and the next one takes its place).
        """
        read = read or self._read
        firsts = self._first_links(read, project_id, set(profiles), split_too=False)
        starts = set(users) | {link.b for link in firsts}
        aliases = self._closure(read, project_id, USER, starts, profiles=False)
        ends = {i for link in aliases for i in (link.a, link.b)}
        split = {u for _, u in self.splits(project_id, ends, (), read)}
        around: dict[str, list[str]] = {}
        for link in aliases:
            if link.a not in split and link.b not in split:
                around.setdefault(link.a, []).append(link.b)
                around.setdefault(link.b, []).append(link.a)
        reached, frontier = set(starts), list(starts)
        while frontier:  # the users the closure query reached
            for other in around.get(frontier.pop(), ()):
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
        named = {u: 0 for u in reached}
        for link in firsts:
            named[link.b] = named.get(link.b, 0) + 1
        limits = {user: max_profiles + n for user, n in named.items()}
        return sorted({*firsts, *aliases, *self._owned_links(read, project_id, limits)})

    def alias_links(
        self, project_id: int, kind: str, start: Iterable[str], read: Read | None = None
    ) -> list[Link]:
        """Every alias link (`user` or `account`) reachable from `start`: its closure."""
        return sorted(self._closure(read or self._read, project_id, kind, set(start), False))

    def profile_link_pages(
        self, project_id: int, bounds: Sequence[Bound], limit: int, excluding: Sequence[str],
        read: Read | None = None,
    ) -> list[Link]:  # fmt: skip
        """Per bound (profile, timestamp, eventId, line, userId), the first `limit` links of
        the profile after it, in link order, but those to `excluding` userIds: a page of the
        links of several profiles read from the index, whatever their number of links."""
        c = self._bytewise
        if self.arrays:
            others, tail = "f.b <> ALL(?::text[])", [project_id, list(excluding), limit]
        else:
            others = f"f.b NOT IN ({', '.join('?' * len(excluding))})"
            tail = [project_id, *excluding, limit]
        inner = (
            "f.project_id = ? AND f.kind = 'profile' AND f.a = w.p "
            f"AND (f.timestamp, f.event_id, f.line, f.b{c}) > (w.ts, w.eid, w.line, w.b) "
            f"AND {others} ORDER BY f.timestamp, f.event_id, f.line, f.b{c} LIMIT ?"
        )
        columns = (("p", "text"), ("ts", "bigint"), ("eid", "text"), ("line", "bigint"),
                   ("b", "text"))  # fmt: skip
        found: list[Link] = []
        for table, params in self._table(columns, bounds):
            found += self._each(read or self._read, table, params, inner, tail)
        return found

    def splits(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str],
        read: Read | None = None,
    ) -> set[tuple[str, str]]:  # fmt: skip
        """(kind, identifier) of those of `users` and `profiles` an operator split off."""
        found: set[tuple[str, str]] = set()
        for kind, values in ((USER, users), (PROFILE, profiles)):
            for condition, params in matching("identifier", values, self.arrays):
                rows = (read or self._read)(
                    "SELECT kind, identifier FROM identity_splits WHERE project_id = ? "
                    f"AND kind = ? AND {condition}",
                    [project_id, kind, *params],
                )
                found.update((k, i) for k, i in rows)
        return found

    def add_split(self, project_id: int, kind: str, identifier: str, now: int) -> None:
        with self._transaction() as conn:
            self._lock_privacy(conn, [project_id], exclusive=False)  # names a person
            conn.execute(
                "INSERT INTO identity_splits (project_id, kind, identifier, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (project_id, kind, identifier, now),
            )

    # -- the statements ------------------------------------------------------------------

    @property
    def _bytewise(self) -> str:
        """Identifiers compare by code point, as Python compares them (and SQLite does)."""
        return ' COLLATE "C"' if self.backend == "postgres" else ""

    def _closure(
        self, read: Read, project_id: int, kind: str, start: set[str], profiles: bool
    ) -> list[Link]:
        """The alias links (of `kind`) of every identifier reachable from `start` through
        alias links that do not name a split userId; `profiles`: with the profile links of
        the userIds reached. One recursive statement (per IN_CHUNK starts on SQLite)."""
        split = (
            "NOT EXISTS (SELECT 1 FROM identity_splits s WHERE s.project_id = ? "
            "AND s.kind = ? AND s.identifier IN ({}, {}))"
        )
        if self.backend == "postgres":  # an OR join condition would read every alias link
            step = (
                "SELECT n.u FROM reached r CROSS JOIN LATERAL ("
                "SELECT l.b AS u FROM identity_links l WHERE l.project_id = ? AND l.kind = ? "
                "AND l.a = r.u UNION ALL SELECT l.a FROM identity_links l "
                "WHERE l.project_id = ? AND l.kind = ? AND l.b = r.u) n "
                f"WHERE {split.format('n.u', 'r.u')}"
            )
            step_params: list[object] = [project_id, kind, project_id, kind, project_id, kind]
        else:  # SQLite answers the OR with both indexes
            step = (
                "SELECT CASE WHEN l.a = r.u THEN l.b ELSE l.a END FROM reached r "
                "JOIN identity_links l ON l.project_id = ? AND l.kind = ? "
                "AND (l.a = r.u OR l.b = r.u) "
                f"WHERE {split.format('l.a', 'l.b')}"
            )
            step_params = [project_id, kind, project_id, kind]
        touching = (
            f"SELECT {_PICK} FROM reached r JOIN identity_links l ON l.project_id = ? "
            "AND l.kind = ? AND l.{} = r.u"
        )
        tail = f"{touching.format('a')} UNION {touching.format('b')}"
        tail_params: list[object] = [project_id, kind, project_id, kind]
        if profiles:
            tail += f" UNION ALL {touching.format('b')}"
            tail_params += [project_id, PROFILE]
        found: list[Link] = []
        for table, params in self._table((("v", "text"),), [(u,) for u in start]):
            sql = f"WITH RECURSIVE {table}, reached(u) AS (SELECT v FROM w UNION {step}) {tail}"
            found += [Link(*row) for row in read(sql, [*params, *step_params, *tail_params])]
        return found

    def _first_links(
        self, read: Read, project_id: int, profiles: set[str], split_too: bool
    ) -> list[Link]:
        """The earliest link of each of `profiles` (who owns it), but of those split off
        unless `split_too`."""
        unsplit = (
            "NOT EXISTS (SELECT 1 FROM identity_splits s WHERE s.project_id = f.project_id "
            "AND s.kind = 'profile' AND s.identifier = w.v) AND "
        )
        inner = (
            f"f.project_id = ? AND f.kind = 'profile' AND f.a = w.v AND "
            f"{'' if split_too else unsplit}TRUE "
            f"ORDER BY f.timestamp, f.event_id, f.line, f.b{self._bytewise} LIMIT 1"
        )
        found: list[Link] = []
        for table, params in self._table((("v", "text"),), [(p,) for p in profiles]):
            found += self._each(read, table, params, inner, [project_id])
        return found

    def _owned_links(self, read: Read, project_id: int, limits: Mapping[str, int]) -> list[Link]:
        """Per user, the earliest links of the first `limits[user]` profiles it owns (whose
        earliest link not split off names it), in link order."""
        c = self._bytewise
        # "f is its profile's earliest link" as the first row of an index walk: a plan that
        # stays a seek whatever the planner's statistics (an anti-join once read 1,000,000).
        inner = (
            "f.project_id = ? AND f.kind = 'profile' AND f.b = w.v AND NOT EXISTS (SELECT 1 "
            "FROM identity_splits s WHERE s.project_id = ? AND s.kind = 'profile' "
            "AND s.identifier = f.a) AND f.b = (SELECT e.b FROM identity_links e "
            "WHERE e.project_id = ? AND e.kind = 'profile' AND e.a = f.a "
            f"ORDER BY e.timestamp, e.event_id, e.line, e.b{c} LIMIT 1) "
            f"ORDER BY f.timestamp, f.event_id, f.line, f.a{c} LIMIT ?"
        )
        by_limit: dict[int, list[tuple[str]]] = {}
        for user, n in limits.items():
            by_limit.setdefault(n, []).append((user,))
        found: list[Link] = []
        for n, users in sorted(by_limit.items()):  # a LIMIT cannot name a row's column
            for table, params in self._table((("v", "text"),), users):
                found += self._each(read, table, params, inner, [project_id] * 3 + [n])
        return found

    def _table(
        self, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]
    ) -> Iterator[tuple[str, list[object]]]:
        """`w(columns) AS (…)` holding `rows`, for a WITH clause, and its parameters:
        PostgreSQL one array per column (one statement), SQLite VALUES of at most IN_CHUNK
        rows (one statement each)."""
        names = ", ".join(name for name, _ in columns)
        if self.arrays:
            if rows:
                arrays = ", ".join(f"?::{kind}[]" for _, kind in columns)
                yield (f"w({names}) AS (SELECT * FROM unnest({arrays}))",
                       [list(column) for column in zip(*rows, strict=True)])  # fmt: skip
            return
        row = f"({', '.join('?' * len(columns))})"
        for at in range(0, len(rows), IN_CHUNK):
            chunk = rows[at : at + IN_CHUNK]
            yield (f"w({names}) AS (VALUES {', '.join([row] * len(chunk))})",
                   [value for r in chunk for value in r])  # fmt: skip

    def _each(
        self,
        read: Read,
        table: str,
        params: list[object],
        inner: str,
        inner_params: Sequence[object],
    ) -> list[Link]:
        """Per row `w` of `table`, the identity links `f` that `inner` (a WHERE condition
        with ORDER BY and LIMIT) selects for it, read from the index in order."""
        if self.backend == "postgres":
            sql = (f"WITH {table} SELECT {_PICK} FROM w CROSS JOIN LATERAL "
                   f"(SELECT f.* FROM identity_links f WHERE {inner}) l")  # fmt: skip
        else:
            sql = (f"WITH {table} SELECT {_PICK} FROM w JOIN identity_links l ON l.rowid IN "
                   f"(SELECT f.rowid FROM identity_links f WHERE {inner})")  # fmt: skip
        return [Link(*row) for row in read(sql, [*params, *inner_params])]
