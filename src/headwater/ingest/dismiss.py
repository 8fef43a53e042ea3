"""Dismiss quarantined entries: the operator decided they will never be replayed.

Dismissal deletes the entry, its raw content with it: the quarantine holds work still to do
(or the record of a replay), and an entry nobody will replay would otherwise be kept
forever. What is left is the count: the rejection was counted in the metrics when it
happened, and each dismissal reports (and logs) how many entries it removed. A dismissed
entry no longer exists, so it cannot be replayed. Deletion runs in short transactions and
stops at the newest entry that existed when it began, so a steady flow of new rejections
neither holds the writer nor keeps a dismissal running.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from headwater.errors import BadRequest
from headwater.store.base import Store

log = logging.getLogger("headwater.quarantine")

STATUSES = ("pending", "replayed", "refused", "all")
MAX_IDS = 10_000
CHUNK = 1000  # entries per transaction


@dataclasses.dataclass
class Dismissed:
    dismissed: int = 0
    missing: list[int] = dataclasses.field(default_factory=list)  # ids asked for, not found

    def wire(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def dismiss(
    store: Store,
    project_id: int,
    ids: Sequence[int] | None,
    status: str | None,
    requested_by: str,
) -> Dismissed:
    """Delete the project's entries among `ids` (when given) with `status` (when given; "all"
    for any status); at least one of the two must be given."""
    if ids is None and status is None:
        raise BadRequest("give the ids to dismiss, a status (all: every entry), or both", "ids")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", "status")
    if ids is not None and len(ids) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} ids per dismissal, got {len(ids)}", "ids")
    chosen = None if status in (None, "all") else status
    ceiling = store.last_quarantine_id(project_id)
    report = Dismissed()
    if ids is not None:
        wanted = sorted(set(ids))
        for at in range(0, len(wanted), CHUNK):
            part = wanted[at : at + CHUNK]
            gone = store.dismiss_quarantine(project_id, chosen, part, ceiling, len(part))
            report.dismissed += len(gone)
            report.missing += sorted(set(part) - set(gone))
    else:
        while gone := store.dismiss_quarantine(project_id, chosen, None, ceiling, CHUNK):
            report.dismissed += len(gone)
    log.info(
        "quarantine entries dismissed",
        extra={"project_id": project_id, "dismissed": report.dismissed, "by": requested_by},
    )
    return report
