"""Erasure requests (issue 6): the one entry point the API and the CLI share."""

from __future__ import annotations

import logging
from typing import Any

from headwater.clock import now_ms
from headwater.config import Settings
from headwater.errors import BadRequest, NotFound
from headwater.model import rules
from headwater.profiles import lookup
from headwater.store.base import Store

log = logging.getLogger("headwater.privacy")


def check_identifier(user_id: str | None, profile_id: str | None, max_length: int) -> None:
    """BadRequest unless exactly one of the two is given and it is a valid string; NotFound
    for a placeholder (`0`, `anonymous`, …), which identifies nobody."""
    if (user_id is None) == (profile_id is None):
        raise BadRequest("give exactly one of userId or profileId", "userId")
    field, value = ("userId", user_id) if user_id is not None else ("profileId", profile_id)
    assert value is not None
    try:
        rules.check_string(field, value, max_length, required=True)
    except rules.Invalid as bad:
        raise BadRequest(f"{field} {bad.message}", field) from None
    if not rules.is_identity(value):
        raise NotFound(f"{value!r} is a placeholder, not an identifier: nobody uses it", field)


def erase(
    store: Store, project_id: int, settings: Settings, user_id: str | None,
    profile_id: str | None, suppressing: bool, requested_by: str,
) -> dict[str, Any]:  # fmt: skip
    """Erase the person of the identifier. NotFound when nobody used it, unless asked to
    suppress it (suppressing the identifiers of an already erased person is allowed)."""
    check_identifier(user_id, profile_id, settings.max_string_length)
    caps = settings.caps
    resolution, person = lookup.person_of(store, project_id, caps, user_id, profile_id)
    if not suppressing:
        lookup.require_used(store, project_id, resolution, person)
    person, report = store.erase_person(
        project_id, user_id, profile_id, caps, suppressing, requested_by, now_ms()
    )
    # Never the identifiers: the log outlives the erasure.
    log.info("erasure %s done", report["id"], extra={"removed": report["removed"]})
    return {"person": person.id, "erasure": report}
