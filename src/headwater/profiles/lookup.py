"""A person's profile, computed when asked from the events and links already committed.

Nothing is cached or materialized, so a profile always reflects every acknowledged event
(invariant 4). A person's events are those they own (decided at write: `model.event.owner_of`),
read with one indexed query per kind of identifier and folded as they stream (`activity.py`)
in an order that does not depend on arrival (invariant 5).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from headwater.clock import now_ms
from headwater.consent.status import Consent, owned_by, status
from headwater.errors import BadRequest, NotFound
from headwater.identity import history as identity_history
from headwater.identity.links import PROFILE, USER, named_by
from headwater.identity.resolve import Caps, Decision, Key, Person, Resolution, anchor_of, resolve
from headwater.model.event import EVENT_COLUMNS
from headwater.model.rules import is_identity
from headwater.model.views import encode_cursor, event_cursor, event_view
from headwater.profiles.activity import Activity
from headwater.profiles.ordering import FOLD_COLUMNS
from headwater.store.base import EventQuery, Store

_PAGE = 1000
_TIME = EVENT_COLUMNS.index("timestamp")


def person_of(
    store: Store, project_id: int, caps: Caps, user_id: str | None, profile_id: str | None
) -> tuple[Resolution, Person]:
    users, profiles = [user_id] if user_id else [], [profile_id] if profile_id else []
    resolution = resolution_of(store, project_id, caps, users, profiles)
    return resolution, resolution.person(user_id=user_id, profile_id=profile_id)


def resolution_of(
    store: Store, project_id: int, caps: Caps, users: Sequence[str], profiles: Sequence[str]
) -> Resolution:
    """The persons of these identifiers, from the links that decide them (and the splits of
    the identifiers those links name), whatever else the project holds."""
    links = store.identity_links(project_id, users, profiles)
    linked_users, linked_profiles = named_by(links)
    splits = store.splits(project_id, {*users, *linked_users}, {*profiles, *linked_profiles})
    return resolve(links, caps, splits)


def require_used(store: Store, project_id: int, resolution: Resolution, person: Person) -> None:
    """NotFound unless some link, event or consent names one of the person's identifiers."""
    if person.id in resolution.history or store.query_events(person_events(project_id, person)):
        return
    if consents_of(store, project_id, person):
        return
    raise NotFound(f"no person has used the identifiers of {person.id}", "id")


def person_by_id(
    store: Store, project_id: int, caps: Caps, person_id: str
) -> tuple[Resolution, Person]:
    kind, value = anchor_of(person_id)
    user_id, profile_id = (value, None) if kind == USER else (None, value)
    return person_of(store, project_id, caps, user_id, profile_id)


def person_events(
    project_id: int, person: Person, after: tuple[int, int] | None = None,
    descending: bool = False, limit: int = 1,
) -> EventQuery:  # fmt: skip
    """The query of the person's events: those they own (`model.event.owner_of`)."""
    return EventQuery(project_id, owner_users=person.user_ids,
                      owner_profiles=person.profile_ids, after=after, descending=descending,
                      limit=limit)  # fmt: skip


def events_of(store: Store, project_id: int, person: Person) -> Iterator[tuple[Any, ...]]:
    """The person's events in (time, arrival) order, a page at a time: nothing is held
    open between pages (a slow reader of an export holds no connection)."""
    query = person_events(project_id, person, limit=_PAGE)
    while True:
        rows = store.query_events(query)
        yield from rows
        if len(rows) < _PAGE:
            return
        query = dataclasses.replace(query, after=(rows[-1][_TIME], rows[-1][-1]))


def consents_of(
    store: Store, project_id: int, person: Person, latest: bool = True
) -> list[Consent]:
    """The person's consent records (those naming their identifiers that are theirs);
    `latest`: only those that can decide their status (see `Store.consents_of`)."""
    found = store.consents_of(project_id, person.user_ids, person.profile_ids, latest=latest)
    return [consent for consent in found if owned_by(person, consent)]


RECENT_SESSIONS = 10


def activity_of(
    store: Store, project_id: int, person: Person, session_timeout_ms: int,
    recent_sessions: int | None,
) -> Activity:  # fmt: skip
    """The person's events folded as they stream (the strategies of the attributes they
    hold are loaded as they appear)."""
    activity = Activity(lambda names: store.attribute_strategies(project_id, names),
                        session_timeout_ms, recent_sessions)  # fmt: skip
    query = dataclasses.replace(person_events(project_id, person), columns=FOLD_COLUMNS)
    for row in store.stream_events(query):
        activity.observe(row)
    return activity


def profile(
    store: Store, project_id: int, caps: Caps,
    user_id: str | None = None, profile_id: str | None = None,
    session_timeout_ms: int = 30 * 60_000, recent_sessions: int | None = RECENT_SESSIONS,
) -> dict[str, Any]:  # fmt: skip
    """The profile of the person an identifier belongs to; NotFound when nobody used it.
    `recent_sessions`: how many sessions to show, latest first (None: all)."""
    if not is_identity(user_id) and not is_identity(profile_id):
        raise NotFound("give a userId or a profileId that is a real identifier", "userId")
    resolution, person = person_of(store, project_id, caps, user_id, profile_id)
    activity = activity_of(store, project_id, person, session_timeout_ms, recent_sessions)
    consents = consents_of(store, project_id, person)
    if not activity.count and person.id not in resolution.history and not consents:
        asked = user_id if user_id is not None else profile_id  # never used
        raise NotFound(f"no person has used the identifier {asked!r}", "userId")
    found = activity.view()
    return {
        "id": person.id,
        "userIds": list(person.user_ids),
        "profileIds": list(person.profile_ids),
        "attributes": found["attributes"],
        "attributeSources": found["attributeSources"],
        "accounts": found["accounts"],
        "sessions": found["sessions"],
        "consents": status(consents, now_ms()),
        "computed": found["computed"],
        "unreadable": found["unreadable"],
    }


def timeline(
    store: Store, project_id: int, caps: Caps, person_id: str,
    limit: int, after: tuple[int, int] | None, descending: bool,
) -> dict[str, Any]:  # fmt: skip
    """The person's events across all their identifiers, in the events API's shape."""
    resolution, person = person_by_id(store, project_id, caps, person_id)
    require_used(store, project_id, resolution, person)
    rows = store.query_events(person_events(project_id, person, after, descending, limit + 1))
    page = rows[:limit]
    cursor = event_cursor(page[-1]) if len(rows) > limit else None
    return {"events": [event_view(r) for r in page], "next": cursor}


def consent_history(
    store: Store, project_id: int, caps: Caps, person_id: str, now: int,
    limit: int, before: tuple[int, int, int] | None,
) -> dict[str, Any]:  # fmt: skip
    """The person's consent: current status per category, and a page of their records,
    newest first (by consent time, then receive time)."""
    resolution, person = person_by_id(store, project_id, caps, person_id)
    deciding = consents_of(store, project_id, person)
    if not deciding:
        require_used(store, project_id, resolution, person)
    page: list[Consent] = []
    while len(page) <= limit:  # records naming the person's identifiers may be others'
        batch = store.consent_history(project_id, person.user_ids, person.profile_ids,
                                      before, limit + 1)  # fmt: skip
        page += [c for c in batch if owned_by(person, c)]
        if len(batch) <= limit:
            break
        last = batch[-1]
        before = (last.timestamp, last.received_at, last.id)
    shown = page[:limit]
    cursor = None
    if len(page) > limit:
        cursor = encode_cursor(shown[-1].timestamp, shown[-1].received_at, shown[-1].id)
    return {
        "id": person.id,
        "status": status(deciding, now),
        "history": [consent.view() for consent in shown],
        "next": cursor,
    }


def history(
    store: Store, project_id: int, caps: Caps, person_id: str, limit: int, after: Key | None
) -> dict[str, Any]:
    """A page of the merges, conflicts and refusals that shaped the person, oldest first:
    `limit` decisions after `after` (the key of the last one of the previous page)."""
    resolution, person = person_by_id(store, project_id, caps, person_id)
    require_used(store, project_id, resolution, person)
    page = list(islice(decisions(store, project_id, resolution, person, after, limit + 1),
                       limit + 1))  # fmt: skip
    cursor = identity_history.encode_key(page[limit - 1].key) if len(page) > limit else None
    return {"id": person.id, "history": [d.wire() for d in page[:limit]], "next": cursor}


def decisions(
    store: Store, project_id: int, resolution: Resolution, person: Person,
    after: Key | None = None, batch: int = 1000,
) -> Iterator[Decision]:  # fmt: skip
    """The person's identity history after `after`, oldest first, read `batch` links of
    each of their profiles at a time (identity/history.py)."""
    fetch = functools.partial(store.profile_link_pages, project_id)
    return identity_history.decisions(resolution, person, fetch, after, batch)


def split(
    store: Store, project_id: int, caps: Caps, person: Person,
    user_id: str | None, profile_id: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Split an identifier off `person`: from now on its links are ignored, so the split is
    exact (state is recomputed from events) and holds whatever events arrive later."""
    others = [u for u in person.user_ids if u != user_id]
    if user_id is not None and user_id in person.user_ids and others:
        store.add_split(project_id, USER, user_id, now_ms())
    elif profile_id is not None and profile_id in person.profile_ids and others:
        store.add_split(project_id, PROFILE, profile_id, now_ms())
    else:
        field = "userId" if user_id is not None else "profileId"
        raise BadRequest(
            f"{field} {user_id or profile_id!r} cannot be split off person {person.id}: it "
            "must be one of its identifiers, and the person must keep another userId",
            field,
        )
    _, remaining = person_of(store, project_id, caps, others[0], None)
    _, separated = person_of(store, project_id, caps, user_id, profile_id)
    return {"person": remaining.id, "splitOff": separated.id}
