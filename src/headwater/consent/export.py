"""A person's complete data as one JSON document (issue 6): the answer to an access request.

Everything but the events is computed first, so a person nobody used is NotFound before the
first byte; the events follow a page at a time, so memory stays flat however many a person
has. Account members (other people) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from headwater.consent import erase
from headwater.errors import NotFound
from headwater.identity.resolve import Decision, Person
from headwater.model.views import event_view
from headwater.profiles import accounts, lookup
from headwater.store.base import Store

_CHUNK_BYTES = 64 * 1024


def export(
    store: Store, project_id: int, max_profiles: int, session_timeout_ms: int,
    user_id: str | None, profile_id: str | None, now: int,
) -> Iterator[bytes]:  # fmt: skip
    """The document's bytes, in chunks; raises NotFound before yielding when nobody used
    the identifier."""
    found = lookup.profile(store, project_id, max_profiles, user_id, profile_id,
                           session_timeout_ms, recent_sessions=None)  # fmt: skip
    resolution, found_person = lookup.person_of(store, project_id, max_profiles, user_id,
                                                profile_id)  # fmt: skip
    consents = lookup.consents_of(store, project_id, found_person, latest=False)
    # Devices linked past max_profiles_per_person are anonymous persons of their own, but
    # what they recorded is this person's data: exported (and erased) with them.
    person = erase.scope(resolution, found_person)
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
            "history": [_own(d, person) for d in resolution.history.get(person.id, [])],
        },
        "sessions": found["sessions"],
        "consents": {
            "status": found["consents"],
            "history": [c.view() for c in sorted(consents, key=lambda c: c.order)],
        },
        "accounts": [_account(store, project_id, a) for a in found["accounts"]],
    }
    return _chunks(head, lookup.events_of(store, project_id, person))


def _own(decision: Decision, person: Person) -> dict[str, Any]:
    """A decision of the identity history as the person may see it: another person's
    identifier (a shared device's later user, a split-off alias) is not theirs to see, so
    it shows as null, and so does the event that names it."""
    mine = set(person.user_ids) | set(person.profile_ids)
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


def _chunks(head: dict[str, Any], events: Iterator[tuple[Any, ...]]) -> Iterator[bytes]:
    buffer = bytearray(msgspec.json.encode(head)[:-1] + b',"events":[')
    first = True
    for row in events:
        if not first:
            buffer += b","
        first = False
        buffer += msgspec.json.encode(event_view(row))
        if len(buffer) >= _CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]}"
    yield bytes(buffer)
