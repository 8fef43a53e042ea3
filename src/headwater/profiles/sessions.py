"""A person's sessions (issue 4 §4), folded from their events; deterministic.

Events carrying a client `sessionId` belong to that session. Events without one are split
into sessions by inactivity: a gap longer than the timeout starts a new one, named
`auto_<eventId of its first event>`. Gaps depend on times alone, so arrival order and ties
do not matter; "first" always means the least (event time, eventId, line).
"""

from __future__ import annotations

from typing import Any

import msgspec

from headwater.model.rules import is_identity
from headwater.profiles.attributes import Order

VIEW_PAGE, SESSION_START = "View Page", "Session start"
#: Session start `userAttributes` copied onto the session (JS SDK names).
CONTEXT = ("deviceType", "browser", "platform", "referrer", "utmSource", "utmMedium",
           "utmCampaign", "utmTerm", "utmContent")  # fmt: skip


class _Session:
    def __init__(self) -> None:
        self.start: int | None = None
        self.end: int | None = None
        self.events = 0
        self.pages = 0
        self.landing: tuple[Order, Any] | None = None
        self.context: tuple[Order, dict[str, Any]] | None = None

    def add(self, order: Order, name: str, data: str | None, attributes: str | None) -> None:
        self.start = order[0] if self.start is None else min(self.start, order[0])
        self.end = order[0] if self.end is None else max(self.end, order[0])
        self.events += 1
        if name == VIEW_PAGE:
            self.pages += 1
            if self.landing is None or order < self.landing[0]:
                url = msgspec.json.decode(data).get("url") if data else None
                self.landing = (order, url)
        if (
            name == SESSION_START
            and attributes
            and (self.context is None or order < self.context[0])
        ):
            self.context = (order, msgspec.json.decode(attributes))

    def view(self, session_id: str) -> dict[str, Any]:
        context = self.context[1] if self.context else {}
        return {
            "id": session_id,
            "start": self.start,
            "end": self.end,
            "event_count": self.events,
            "pages_viewed": self.pages,
            "landing_page": self.landing[1] if self.landing else None,
            **{name: context.get(name) for name in CONTEXT},
        }


class Sessions:
    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.client: dict[str, _Session] = {}
        self.loose: list[tuple[Order, str, str | None, str | None]] = []

    def observe(
        self, order: Order, session_id: str | None, name: str, data: str | None,
        attributes: str | None,
    ) -> None:  # fmt: skip
        if is_identity(session_id):
            self.client.setdefault(session_id, _Session()).add(order, name, data, attributes)
        else:
            self.loose.append((order, name, data, attributes))

    def result(self) -> list[dict[str, Any]]:
        """Every session, the most recent first."""
        views = [session.view(sid) for sid, session in self.client.items()]
        current: _Session | None = None
        first_id = ""
        for order, name, data, attributes in sorted(self.loose, key=lambda e: e[0]):
            if current is None or current.end is None or order[0] - current.end > self.timeout_ms:
                if current is not None:
                    views.append(current.view(f"auto_{first_id}"))
                current, first_id = _Session(), order[1]
            current.add(order, name, data, attributes)
        if current is not None:
            views.append(current.view(f"auto_{first_id}"))
        return sorted(views, key=lambda v: (v["start"], v["id"]), reverse=True)
