"""Dismiss quarantined entries: the operator decided they will never be replayed.

A dismissed entry keeps its place but not its content, as an entry the privacy gate refused
does: its raw JSON is emptied (the bulk of what the quarantine holds, and the only part that
can name a person) and its status becomes `dismissed`, which no replay takes. The row itself
stays, with its id, reason and receive time, because ids are references clients hold (list
cursors, replay and dismissal ids), and SQLite hands the id of a deleted newest row to the
next one: deleting would let a later entry answer to a dismissed one's id, and a client
paging `after` an id would skip new entries. What is left is about a hundred bytes per entry.

Dismissal runs in short transactions and stops at the newest entry that existed when it
began, so a steady flow of new rejections neither holds the writer nor keeps it running.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from headwater.clock import now_ms
from headwater.errors import BadRequest
from headwater.store.base import Store

log = logging.getLogger("headwater.quarantine")

#: What the quarantine's list filters on.
STATUSES = ("pending", "replayed", "refused", "dismissed", "all")
#: What a dismissal by status takes (`all`: every status but dismissed).
DISMISSABLE = ("pending", "replayed", "refused", "all")
MAX_IDS = 10_000
CHUNK = 1000  # entries per transaction


@dataclasses.dataclass
class Dismissed:
    dismissed: int = 0
    # Ids asked for and not dismissed now: unknown, of another status, or dismissed before.
    missing: list[int] = dataclasses.field(default_factory=list)

    def wire(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def dismiss(
    store: Store,
    project_id: int,
    ids: Sequence[int] | None,
    status: str | None,
    requested_by: str,
) -> Dismissed:
    """Dismiss the project's entries among `ids` (when given) with `status` (when given;
    "all" for any); at least one of the two must be given."""
    if ids is None and status is None:
        raise BadRequest("give the ids to dismiss, a status (all: every entry), or both", "ids")
    if status is not None and status not in DISMISSABLE:
        raise BadRequest(f"status must be one of {', '.join(DISMISSABLE)}", "status")
    if ids is not None and len(ids) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} ids per dismissal, got {len(ids)}", "ids")
    chosen = None if status in (None, "all") else status
    ceiling = store.last_quarantine_id(project_id)
    report = Dismissed()
    if ids is not None:
        wanted = sorted(set(ids))
        for at in range(0, len(wanted), CHUNK):
            part = wanted[at : at + CHUNK]
            done = store.dismiss_quarantine(project_id, chosen, part, ceiling, len(part), now_ms())
            report.dismissed += len(done)
            report.missing += sorted(set(part) - set(done))
    else:
        while done := store.dismiss_quarantine(project_id, chosen, None, ceiling, CHUNK, now_ms()):
            report.dismissed += len(done)
    log.info(
        "quarantine entries dismissed",
        extra={"project_id": project_id, "dismissed": report.dismissed, "by": requested_by},
    )
    return report
