"""The Python steps of migrations: values a migration adds that only a rule in Python can
decide, computed for the rows stored before it, in batches, inside `migrate()`'s
transaction (so a failed backfill leaves the schema as it was)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from headwater.model.event import owner_of
from headwater.store.statements import Connection, matching

log = logging.getLogger("headwater.store")
BATCH = 5000


def event_owners(conn: Connection, arrays: bool) -> None:
    """Migration 7: the `owner` of every stored event (`model.event.owner_of`)."""
    after, done = 0, 0
    while rows := conn.execute(
        "SELECT seq, user_id, profile_id FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, BATCH),
    ).fetchall():
        by_owner: dict[str, list[int]] = {}
        for seq, user_id, profile_id in rows:
            owner = owner_of(user_id, profile_id)
            if owner is not None:
                by_owner.setdefault(owner, []).append(seq)
        for owner, seqs in by_owner.items():
            for condition, params in matching("seq", seqs, arrays):
                conn.execute(f"UPDATE events SET owner = ? WHERE {condition}", [owner, *params])
        after, done = rows[-1][0], done + len(rows)
        if done % (BATCH * 20) == 0:
            log.info("migration 7: owners of %d stored events decided", done)


#: Migration version → its Python step, run right after the version's SQL.
BACKFILLS: dict[int, Callable[[Connection, bool], None]] = {7: event_owners}
