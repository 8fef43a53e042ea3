"""Reads of the event log common to both backends: a page of events, all of them as a stream,
and the members of an account.

A person's events are those whose `owner` (decided at write, `model.event.owner_of`) is one
of their identifiers: one indexed branch per kind of identifier, so a kiosk's profileId
reaches its own anonymous events (`events_profile_owned`), never its users' events.
"""

from __future__ import annotations

import abc
import heapq
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

from headwater.model.event import EVENT_COLUMNS, OWNER_KINDS, PROFILE_OWNED, USER_OWNED
from headwater.store.base import EventQuery
from headwater.store.statements import matching

_COLUMN = {USER_OWNED: "user_id", PROFILE_OWNED: "profile_id"}  # where an owner's id is
#: The order folds read events in (invariant 5): event time, then eventId, line and name.
FOLD_ORDER = ("timestamp", "event_id", "line", "event_name")


class EventsSQL(abc.ABC):
    #: Whether the backend takes array parameters (`statements.matching`).
    arrays: bool = False
    #: What makes a text comparison bytewise (SQLite's default already is).
    bytewise: str = ""

    @abc.abstractmethod
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def _stream(self, sql: str, params: Sequence[object]) -> Iterator[tuple[Any, ...]]:
        """The rows of a query as it produces them, without holding them all."""

    def query_events(self, query: EventQuery) -> list[tuple[Any, ...]]:
        sql, params = event_sql(query, self.arrays)
        return self._read(sql, params)

    def stream_events(self, query: EventQuery) -> Iterator[tuple[Any, ...]]:
        """Each branch streamed in fold order by its own query, merged here."""
        selects = branch_sql(query, self.arrays, paged=False, bytewise=self.bytewise)
        streams = [self._stream(sql, params) for sql, params in selects]
        if len(streams) == 1:
            return streams[0]
        # Python compares text by code point: in the order of its UTF-8 bytes, as the SQL.
        fold = itemgetter(*(query.columns.index(c) for c in FOLD_ORDER))
        return heapq.merge(*streams, key=fold)

    def events_after(
        self, query: EventQuery, after_seq: int, up_to_seq: int, limit: int
    ) -> list[tuple[Any, ...]]:
        where, params = _where(query)
        # `+project_id`: walk the seq range (the primary key), never the project's indexes.
        where[0] = "+project_id = ?"
        return self._read(
            f"SELECT {', '.join(EVENT_COLUMNS)}, seq FROM events "
            f"WHERE seq > ? AND seq <= ? AND {' AND '.join(where)} ORDER BY seq LIMIT ?",
            [after_seq, up_to_seq, *params, limit],
        )

    def count_events(self, query: EventQuery) -> int:
        where, params = _where(query)
        return int(self._read(f"SELECT count(*) FROM events WHERE {' AND '.join(where)}",
                              params)[0][0])  # fmt: skip

    def account_members(
        self, project_id: int, account_ids: Sequence[str], after: tuple[str, str] | None,
        limit: int,
    ) -> list[tuple[str, str]]:  # fmt: skip
        """(kind, identifier) of the owners of the accounts' events, distinct, ordered by
        kind (users first) then identifier, bytewise; the first `limit` after `after`."""
        accounts, params = any_of("account_id", account_ids, self.arrays)
        found: list[tuple[str, str]] = []
        for rank, kind in enumerate(OWNER_KINDS):
            if after is not None and OWNER_KINDS.index(after[0]) > rank:
                continue  # the cursor is past this kind
            column = _COLUMN[kind]
            key = f"{column}{self.bytewise}"
            sql = (f"SELECT {key} FROM events WHERE project_id = ? AND owner = '{kind}' "
                   f"AND {accounts}")  # fmt: skip
            values = [project_id, *params]
            if after is not None and after[0] == kind:
                sql += f" AND {key} > ?"
                values.append(after[1])
            rows = self._read(f"{sql} GROUP BY {key} ORDER BY {key} LIMIT ?",
                              [*values, limit - len(found)])  # fmt: skip
            found += [(kind, i) for (i,) in rows]
            if len(found) == limit:
                break
        return found

    def members_among(
        self, project_id: int, account_ids: Sequence[str], users: Sequence[str],
        profiles: Sequence[str],
    ) -> set[tuple[str, str]]:  # fmt: skip
        """Which of these identifiers own an event of the accounts: (kind, identifier)."""
        accounts, params = any_of("account_id", account_ids, self.arrays)
        found: set[tuple[str, str]] = set()
        for kind, values in ((USER_OWNED, users), (PROFILE_OWNED, profiles)):
            column = _COLUMN[kind]
            for condition, more in matching(column, values, self.arrays):
                rows = self._read(
                    f"SELECT DISTINCT {column} FROM events WHERE project_id = ? "
                    f"AND owner = '{kind}' AND {condition} AND {accounts}",
                    [project_id, *more, *params],
                )
                found.update((kind, i) for (i,) in rows)
        return found


def any_of(column: str, values: Sequence[str], arrays: bool) -> tuple[str, list[object]]:
    """One condition: `column` equal to one of `values` (none: a condition nothing meets)."""
    parts = list(matching(column, values, arrays))
    if not parts:
        return "1 = 0", []
    condition = " OR ".join(condition for condition, _ in parts)
    return f"({condition})", [p for _, more in parts for p in more]


def _where(query: EventQuery) -> tuple[list[str], list[object]]:
    """The conditions of `query` other than whose events: filters and the cursor."""
    where: list[str] = ["project_id = ?"]
    params: list[object] = [query.project_id]
    for column, value in (
        ("user_id", query.user_id),
        ("profile_id", query.profile_id),
        ("account_id", query.account_id),
        ("event_name", query.event_name),
        ("event_id", query.event_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append("timestamp >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("timestamp < ?")
        params.append(query.until)
    if query.after is not None:
        where.append(f"(timestamp, seq) {'<' if query.descending else '>'} (?, ?)")
        params.extend(query.after)
    return where, params


def branch_sql(
    query: EventQuery, arrays: bool, paged: bool, bytewise: str = ""
) -> list[tuple[str, list[object]]]:
    """One SELECT per branch of `query` (a person's events: one per kind of identifier;
    an account's: one), each with its parameters: rows of `query.columns` then `seq`. The
    branches are disjoint: an event has one owner and one accountId.

    `paged`: by (timestamp, seq), the first `query.limit`; else in fold order, ascending:
    (timestamp, eventId, line, eventName), text compared bytewise (`bytewise`)."""
    if not set(FOLD_ORDER) <= set(query.columns) <= set(EVENT_COLUMNS):
        raise ValueError(f"not columns an event query can read: {query.columns}")
    if not paged and (query.after is not None or query.descending):
        raise ValueError("a stream reads in fold order, from the first event")
    columns = f"{', '.join(query.columns)}, seq"
    where, params = _where(query)
    branches = [
        (f"owner = '{owner}' AND {condition}", more, many)
        for owner, column, ids in (
            (USER_OWNED, "user_id", query.owner_users),
            (PROFILE_OWNED, "profile_id", query.owner_profiles),
        )
        for condition, more, many in _equal_any(column, ids, arrays)
    ]
    branches += _equal_any("account_id", query.any_account_id, arrays)
    direction = "DESC" if query.descending and paged else "ASC"
    later = ["seq"] if paged else [f"event_id{bytewise}", "line", f"event_name{bytewise}"]
    limit, limits = (" LIMIT ?", [query.limit]) if paged else ("", [])
    selects = []
    for condition, more, many in branches or [("", [], False)]:
        # An eventId, or several identifiers, match a handful of rows: the unary + keeps
        # SQLite's planner on their index (then a small sort) instead of walking the
        # project's time index for its order. One identifier: its index gives the order.
        plus = "+" if query.event_id is not None or many else ""
        order = ", ".join(f"{key} {direction}" for key in [f"{plus}timestamp", *later])
        conditions = [*where[:1], *([condition] if condition else []), *where[1:]]
        selects.append((
            f"SELECT {columns} FROM events WHERE {' AND '.join(conditions)} "
            f"ORDER BY {order}{limit}",
            [*params[:1], *more, *params[1:], *limits],
        ))  # fmt: skip
    return selects


def event_sql(query: EventQuery, arrays: bool) -> tuple[str, list[object]]:
    """The SELECT of a page of `query` (`query.limit` rows): its branches, each stopping at
    the page's length, merged."""
    selects = branch_sql(query, arrays, paged=True)
    if len(selects) == 1:
        return selects[0]
    direction = "DESC" if query.descending else "ASC"
    merged = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS branch_{at}"
                                for at, (sql, _) in enumerate(selects))  # fmt: skip
    sql = f"SELECT * FROM ({merged}) AS person_events ORDER BY timestamp {direction}, " \
          f"seq {direction} LIMIT ?"  # fmt: skip
    return sql, [*(p for _, params in selects for p in params), query.limit]


def _equal_any(
    column: str, values: Sequence[str], arrays: bool
) -> list[tuple[str, list[object], bool]]:
    """`column` equal to one of `values`, as (condition, parameters, several values?): an
    equality for one value, so that a planner knows its index gives the rows in order."""
    distinct = set(values)
    if len(distinct) == 1:
        return [(f"{column} = ?", list(distinct), False)]
    return [(condition, more, True) for condition, more in matching(column, distinct, arrays)]
