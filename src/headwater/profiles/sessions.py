"""A person's sessions (issue 4 §4), folded from their events; deterministic.

Events carrying a client `sessionId` belong to that session. Events without one are split
into sessions by inactivity: a gap longer than the timeout starts a new one, named
`auto_<eventId of its first event>`. Gaps depend on times alone, so arrival order and ties
do not matter; "first" always means the least (event time, eventId, line).

The fold streams: events come in fold order (`Store.stream_events`), so a session's
first event is seen first and a session without a client id ends at the first long gap. Only
a summary per session is kept, and with `keep` only the `keep` most recent sessions' (a
session never gets more recent once others started after it), plus the client ids seen.
"""

from __future__ import annotations

import heapq
from typing import Any

from headwater.model.rules import is_identity
from headwater.profiles.attributes import Order
from headwater.profiles.stored import Unreadable, read_object

VIEW_PAGE, SESSION_START = "View Page", "Session start"
#: Session start `userAttributes` copied onto the session (JS SDK names).
CONTEXT = ("deviceType", "browser", "platform", "referrer", "utmSource", "utmMedium",
           "utmCampaign", "utmTerm", "utmContent")  # fmt: skip


class _Session:
    def __init__(self, session_id: str, start: int) -> None:
        self.id = session_id
        self.start = self.end = start
        self.events = 0
        self.pages = 0
        self.landing: str | None = None
        self.context: dict[str, Any] | None = None

    def add(self, order: Order, name: str, data: str | None,
            attributes: dict[str, Any] | None, unreadable: Unreadable) -> None:  # fmt: skip
        self.end = order[0]
        self.events += 1
        if name == VIEW_PAGE:
            self.pages += 1
            if self.pages == 1:  # the first page view: the landing page
                self.landing = (read_object(data, order, "data", unreadable) or {}).get("url")
        if name == SESSION_START and self.context is None:
            self.context = attributes

    def view(self) -> dict[str, Any]:
        context = self.context or {}
        return {
            "id": self.id,
            "start": self.start,
            "end": self.end,
            "event_count": self.events,
            "pages_viewed": self.pages,
            "landing_page": self.landing,
            **{name: context.get(name) for name in CONTEXT},
        }


class Sessions:
    def __init__(self, timeout_ms: int, keep: int | None = None) -> None:
        self.timeout_ms = timeout_ms
        self.keep = keep
        self.count = 0
        self.client_ids: set[str] = set()  # every client session seen, kept or not
        self.loose: _Session | None = None  # the current session without a client id
        # The sessions kept, by key ("c" and a client's id, or "l" and the number of a loose
        # one: two can start with events sharing an eventId), and (start, id, key) of each
        # in a min-heap: the least recent is the one to drop.
        self.kept: dict[str, _Session] = {}
        self.ranked: list[tuple[int, str, str]] = []

    def observe(
        self, order: Order, session_id: str | None, name: str, data: str | None,
        attributes: dict[str, Any] | None, unreadable: Unreadable,
    ) -> None:  # fmt: skip
        """One event, in fold order: its `data` as stored (read only where needed) and its
        `userAttributes` as read (`stored.read_object`)."""
        session: _Session | None
        if is_identity(session_id):
            session = self.kept.get(f"c{session_id}")
            if session is None:
                if session_id in self.client_ids:
                    return  # a session too old to be shown: counted already
                self.client_ids.add(session_id)
                session = self._start(f"c{session_id}", session_id, order[0])
        else:
            session = self.loose
            if session is None or order[0] - session.end > self.timeout_ms:
                key = f"l{self.count}"
                session = self.loose = self._start(key, f"auto_{order[1]}", order[0])
        session.add(order, name, data, attributes, unreadable)

    def _start(self, key: str, session_id: str, start: int) -> _Session:
        self.count += 1
        session = self.kept[key] = _Session(session_id, start)
        heapq.heappush(self.ranked, (start, session_id, key))
        if self.keep is not None and len(self.ranked) > self.keep:
            *_, dropped = heapq.heappop(self.ranked)
            del self.kept[dropped]  # the current loose session, dropped, still ends at a gap
        return session
        return session

    def result(self) -> list[dict[str, Any]]:
        """The sessions kept, the most recent first."""
        views = [session.view() for session in self.kept.values()]
        return sorted(views, key=lambda v: (v["start"], v["id"]), reverse=True)
