"""A person's complete data as one JSON document (issue 6): the answer to an access request.

Everything but the identity history and the events is computed first, so a person nobody
used is NotFound before the first byte; the history and the events follow a page at a time,
so memory stays flat however many a person has (a kiosk's owner: 50,000 conflicts).
Account members (other people) are left out.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import msgspec

from headwater.consent import erase
from headwater.errors import NotFound
from headwater.identity.resolve import Caps, Decision
from headwater.model.views import event_view
from headwater.profiles import accounts, lookup
from headwater.store.base import Store

_CHUNK_BYTES = 64 * 1024


def export(
    store: Store, project_id: int, caps: Caps, session_timeout_ms: int,
    user_id: str | None, profile_id: str | None, now: int,
) -> Iterator[bytes]:  # fmt: skip
    """The document's bytes, in chunks; raises NotFound before yielding when nobody used
    the identifier."""
    found = lookup.profile(store, project_id, caps, user_id, profile_id,
                           session_timeout_ms, recent_sessions=None)  # fmt: skip
    resolution, found_person = lookup.person_of(store, project_id, caps, user_id,
                                                profile_id)  # fmt: skip
    consents = lookup.consents_of(store, project_id, found_person, latest=False)
    # Devices linked past max_profiles_per_person are anonymous persons of their own, but
    # what they recorded is this person's data: exported (and erased) with them.
    person = erase.scope(resolution, found_person)
    # Where the streamed lists go: values no event can hold (nobody can guess them).
    history_at, events_at = f"history {secrets.token_hex(16)}", f"events {secrets.token_hex(16)}"
    head: dict[str, Any] = {
        "exportedAt": now,
        "person": {"id": person.id, "userIds": found["userIds"], "profileIds": found["profileIds"]},
        "attributes": found["attributes"],
        "attributeSources": found["attributeSources"],
        "computed": found["computed"],
        "unreadable": found["unreadable"],
        "identities": {
            "userIds": found["userIds"],
            "profileIds": list(person.profile_ids),
            "history": history_at,
        },
        "sessions": found["sessions"],
        "consents": {
            "status": found["consents"],
            "history": [c.view() for c in sorted(consents, key=lambda c: c.order)],
        },
        "accounts": [_account(store, project_id, a) for a in found["accounts"]],
        "events": events_at,
    }
    decisions = lookup.decisions(store, project_id, resolution, found_person)
    mine = erase.identifiers_of(person)  # once: a person can hold 10,000 refused devices
    return _chunks(head, {
        history_at: (_own(d, mine) for d in decisions),
        events_at: (event_view(row) for row in lookup.events_of(store, project_id, person)),
    })  # fmt: skip


def _own(decision: Decision, mine: frozenset[str]) -> dict[str, Any]:
    """A decision of the identity history as the person (whose identifiers are `mine`) may
    see it: another person's identifier (a shared device's later user, a split-off alias)
    is not theirs to see, so it shows as null, and so does the event that names it."""
    shown = [i if i in mine else None for i in decision.identifiers]
    entry: dict[str, Any] = {"type": decision.type, "identifiers": shown,
                             "timestamp": decision.link.timestamp}  # fmt: skip
    if None not in shown:
        entry |= {"eventId": decision.link.event_id, "line": decision.link.line,
                  "message": decision.message}  # fmt: skip
    return entry


def _account(store: Store, project_id: int, account_id: str) -> dict[str, Any]:
    try:
        return accounts.account(store, project_id, account_id)
    except NotFound:  # named on the person's events, but by no event of the account itself
        return {"id": account_id}


def _chunks(head: dict[str, Any], streams: dict[str, Iterator[Any]]) -> Iterator[bytes]:
    """`head` as JSON, where each value that is a key of `streams` (in document order) is
    that stream's items as a list, written as they come: memory holds one chunk."""
    rest = msgspec.json.encode(head)
    buffer = bytearray()
    for marker, items in streams.items():
        before, rest = rest.split(msgspec.json.encode(marker), 1)
        buffer += before + b"["
        for n, item in enumerate(items):
            buffer += b"," if n else b""
            buffer += msgspec.json.encode(item)
            if len(buffer) >= _CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        buffer += b"]"
    buffer += rest
    yield bytes(buffer)
